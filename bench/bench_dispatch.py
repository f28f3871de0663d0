"""Throughput and CPU cost of the whole dispatcher: claim, mark sending, send, record outcomes.

Queues N Telegram rows in a throwaway database (a SQLite file, and with ``--database-url`` a
fresh database on that PostgreSQL server), then lets dispatcher processes drain them through the
real TelegramChannel to the fake provider (tests/messaging/fake_providers.py), which runs in a
process of its own so that its CPU is not counted. Each dispatcher process builds a
``Dispatcher`` in-process with the real RateLimiter, warms up on a few rows, then reports its
wall time and ``time.process_time()`` (all its threads: the event loop and the DB threads).

Runs, for each database and each latency: one worker unpaced (rate limit far above what it can
do); at the target latency only, one worker paced by its rate limiter at 1,000 sends/s and one
at 30/s (Telegram's real limit, where a shop runs: there the idle and per-message fixed costs
show); on PostgreSQL two worker processes sharing the outbox. The floor: the Telegram channel
alone, paced at 1,000/s against the same fake server, in this process.

Targets (issue 16), each printed with PASS/MISS:

- at 50 ms provider latency one worker sends >= 1,000/s;
- a worker sending 1,000/s uses <= 0.5 core, i.e. CPU <= 0.5 s per 1,000 sends (figured from
  CPU per send, since a loaded machine may not let the fake answer 1,000/s: the achieved rate
  is printed beside it);
- a worker sending 30/s uses <= 0.15 core (CPU over wall time, for a run of ``--n30`` sends);
- two workers on PostgreSQL send >= 1.7x what one does, in the same run.

    python bench/bench_dispatch.py [--n 5000] [--n30 300] [--latency-ms 0 50]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

The machine's other processes (the fake, the database server) share its cores: on a small
machine the wall-clock figures move more than the CPU ones; the load average is printed. Beside
each run: the fake server's CPU and, on PostgreSQL, the CPU of the backends serving the workers
and how often a backend was waiting on a lock (sampled every 20 ms), with the cores all of them
used together: what tells a machine out of CPU from workers queuing on each other's rows.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, delete, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.bench_channels import (  # noqa: E402
    fake_server,
    measure,
    server_summary,
    telegram_factory,
)
from messaging import outbox  # noqa: E402
from messaging.channels.telegram import TelegramChannel  # noqa: E402
from messaging.dispatcher import DispatchConfig, Dispatcher, Limiter  # noqa: E402
from messaging.notifier import ShopVoice  # noqa: E402
from messaging.quiet_hours import QuietHours  # noqa: E402
from messaging.ratelimit import RateLimiter  # noqa: E402
from messaging.types import ChannelKind  # noqa: E402
from store.db import Database  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import (  # noqa: E402
    Channel,
    Customer,
    DeliveryAttempt,
    OutboxMessage,
    OutboxStatus,
    utcnow,
)
from tests.messaging import fake_providers as fake  # noqa: E402

TARGET_LATENCY_MS = 50.0
TARGET_SENDS_PER_S = 1000.0
TARGET_CORES = 0.5
TELEGRAM_RATE = 30.0
TARGET_CORES_AT_30 = 0.15
TARGET_SCALING = 1.7
UNPACED = 1_000_000.0
WARM_UP = 200
CHATS = 1000
TEXT = (
    "Hi Ada, the <b>Blue Kettle</b> on order #{n} is delayed. The supplier expects it on "
    "12 December. Choose: wait (10% off), switch to the Red Kettle, or cancel the order."
)
BUTTONS = [
    ["Wait (10% off)", "offer:42:wait"],
    ["Switch to Red Kettle", "offer:42:switch"],
    ["Cancel the order", "offer:42:cancel"],
]


@dataclass(frozen=True)
class Result:
    database: str
    latency_ms: float
    workers: int
    rate: float
    sends: int
    wall_s: float
    cpu_s: float
    fake_cpu_s: float = 0.0  # the fake Bot API's process, over the same run
    db_cpu_s: float = 0.0  # the PostgreSQL backends serving the workers (0 for SQLite)
    lock_samples: tuple[int, int] | None = None  # (samples with a lock wait, samples)

    @property
    def per_second(self) -> float:
        return self.sends / self.wall_s

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_s / self.sends * 1000

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s

    @property
    def cores_at_rate(self) -> float:
        """Cores a worker would use sending at its pace: CPU per send times the rate."""
        return self.cpu_s / self.sends * self.rate

    @property
    def machine_cores(self) -> float:
        """Cores the workers, the fake server and the database backends used together."""
        return (self.cpu_s + self.fake_cpu_s + self.db_cpu_s) / self.wall_s


# ---- the dispatcher process ----


async def _child(database_url: str, fake_url: str, rate: float, concurrency: int) -> None:
    """Build a dispatcher, drain the warm-up rows, then on "go" drain and report."""
    db = Database(database_url)
    channel = TelegramChannel(fake.TELEGRAM_TOKEN, base_url=f"{fake_url}/bot")
    limiter: Limiter = RateLimiter(rate, UNPACED)
    config = DispatchConfig(
        quiet_hours=QuietHours(dt.time(0), dt.time(0)),
        rates={Channel.TELEGRAM: rate},
        voice=ShopVoice("Shop", "help@shop.test"),
        concurrency=concurrency,
    )
    dispatcher = Dispatcher(db, {Channel.TELEGRAM: channel}, {Channel.TELEGRAM: limiter}, config)
    try:
        await dispatcher.run_once()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        db_cpu0 = backends_cpu(db)
        start, cpu0 = time.time(), time.process_time()
        stats = await dispatcher.run_once()
        end, cpu = time.time(), time.process_time() - cpu0
        db_cpu = sum(v - db_cpu0.get(pid, 0.0) for pid, v in backends_cpu(db).items())
    finally:
        await channel.close()
        db.dispose()
    report = {
        "sent": stats.outcomes["sent"],
        "start": start,
        "end": end,
        "cpu": cpu,
        "db_cpu": db_cpu,
    }
    print(json.dumps(report), flush=True)


def backends_cpu(db: Database) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to this database (same host).

    A backend that serves a worker's pool lives as long as the worker's engine, so the
    difference over a run is the database server's work for it; SQLite's is in-process.
    """
    if db.engine.dialect.name != "postgresql":
        return {}
    with db.read_session() as session:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        pids = list(session.execute(text(query)).scalars())
    return {pid: _process_cpu(pid) for pid in pids}


def _process_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:  # another host, or the backend just left
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- the parent: databases, rows, processes ----


@contextmanager
def database(kind: str, server_url: str | None) -> Iterator[Database]:
    """A migrated throwaway database: a SQLite file, or a new database on the server."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            upgrade(url)
            db = Database(url)
            try:
                yield db
            finally:
                db.dispose()
        return
    assert server_url is not None
    name = f"bench_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        db = Database(url)
        try:
            yield db
        finally:
            db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def add_customers(db: Database) -> list[int]:
    now = utcnow()
    with db.session() as session:
        return list(
            session.scalars(
                insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
                [
                    {"name": f"C{i}", "telegram_chat_id": 5_000_000_000 + i, "created_at": now}
                    for i in range(CHATS)
                ],
            )
        )


def queue(db: Database, customers: list[int], start: int, count: int) -> None:
    """Rows ``start`` .. ``start + count``, spread over the chats, each text unique."""
    messages = [
        outbox.QueuedMessage(
            dedupe_key=f"bench:{n}",
            customer_id=customers[n % len(customers)],
            channel=Channel.TELEGRAM,
            address=str(5_000_000_000 + n % len(customers)),
            message="bench",
            locale="en",
            body=TEXT.format(n=n),
            buttons=BUTTONS,
        )
        for n in range(start, start + count)
    ]
    with db.session() as session:
        outbox.enqueue(session, messages, utcnow())


def sent_count(db: Database) -> int:
    with db.read_session() as session:
        query = select(func.count()).where(OutboxMessage.status == OutboxStatus.SENT)
        return int(session.scalar(query) or 0)


def run(
    db: Database,
    kind: str,
    fake_url: str,
    *,
    n: int,
    workers: int,
    rate: float,
    latency_ms: float,
    concurrency: int,
) -> Result:
    """Start ``workers`` dispatcher processes, let them warm up, queue ``n`` rows, time them."""
    with db.session() as session:
        session.execute(delete(DeliveryAttempt))
        session.execute(delete(OutboxMessage))
    customers = add_customers(db) if not _has_customers(db) else _customer_ids(db)
    warm_up = min(WARM_UP, int(rate))  # a second's worth at a slow pace
    queue(db, customers, 0, warm_up * workers)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, __file__, "--child", db.url, fake_url, str(rate), str(concurrency)]
    children = [
        subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    try:
        for process in children:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        queue(db, customers, warm_up * workers, n)
        fake_cpu0 = _fake_cpu(fake_url)
        sampler = LockWaits(db) if kind == "postgresql" else None
        for process in children:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in children:
            assert process.stdout is not None
            reports.append(json.loads(process.stdout.readline()))
            process.wait(timeout=60)
        fake_cpu = _fake_cpu(fake_url) - fake_cpu0
        lock_samples = sampler.stop() if sampler is not None else None
    finally:
        for process in children:
            if process.poll() is None:
                process.kill()
                process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
    sent = sum(r["sent"] for r in reports)
    if sent != n or sent_count(db) != n + warm_up * workers:
        raise SystemExit(f"expected {n} sends, workers report {sent}")
    wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    cpu = sum(r["cpu"] for r in reports)
    db_cpu = sum(r["db_cpu"] for r in reports)
    return Result(kind, latency_ms, workers, rate, n, wall, cpu, fake_cpu, db_cpu, lock_samples)


class LockWaits:
    """Samples, every 20 ms, whether a backend on this database waits for a lock (a row lock
    the claim's SKIP LOCKED should never wait for, or any other)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._done = threading.Event()
        self._counts = [0, 0]
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        query = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        with self._db.engine.connect() as conn:
            while not self._done.wait(0.02):
                self._counts[0] += bool(conn.execute(query).scalar())
                self._counts[1] += 1
                conn.rollback()  # a fresh snapshot of pg_stat_activity each time

    def stop(self) -> tuple[int, int]:
        self._done.set()
        self._thread.join()
        return self._counts[0], self._counts[1]


def _fake_cpu(fake_url: str) -> float:
    return float(server_summary(fake_url)["cpu_s"])  # type: ignore[arg-type]


def _has_customers(db: Database) -> bool:
    with db.read_session() as session:
        return bool(session.scalar(select(func.count()).select_from(Customer)))


def _customer_ids(db: Database) -> list[int]:
    with db.read_session() as session:
        return list(session.scalars(select(Customer.id).order_by(Customer.id)))


def report(result: Result) -> None:
    paced = f"paced {result.rate:.0f}/s" if result.rate < UNPACED else "unpaced"
    print(
        f"{result.database:<10} {result.workers} worker{'s' if result.workers > 1 else ' '}  "
        f"{paced:<13} latency {result.latency_ms:>3.0f} ms  sends {result.sends}  "
        f"{result.per_second:>6.0f} sends/s  CPU {result.cpu_per_1000:.3f} s/1000 "
        f"({result.cores:.2f} core)",
        flush=True,
    )
    others = f"fake server {result.fake_cpu_s / result.sends * 1000:.3f} s/1000"
    if result.db_cpu_s:
        others += f", PostgreSQL backends {result.db_cpu_s / result.sends * 1000:.3f} s/1000"
    if result.lock_samples:
        waiting, samples = result.lock_samples
        others += f", a backend waiting on a lock in {waiting} of {samples} samples"
    cores = f"all of them {result.machine_cores:.2f} of {os.cpu_count()} cores"
    print(f"{'':<13}{others}; {cores}", flush=True)


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def verdict(results: list[Result], floor: Result | None) -> bool:
    """The targets, per database, at the target latency; False if any is missed."""
    ok = True
    at_target = [r for r in results if r.latency_ms == TARGET_LATENCY_MS]
    for kind in sorted({r.database for r in at_target}):
        mine = [r for r in at_target if r.database == kind]
        one = {r.rate: r for r in mine if r.workers == 1}
        checks: list[tuple[str, bool]] = []
        if UNPACED in one:
            rate = one[UNPACED].per_second
            checks.append(
                (f"one worker reaches {TARGET_SENDS_PER_S:.0f} sends/s: {rate:.0f}/s", rate >= 1000)
            )
        if TARGET_SENDS_PER_S in one:
            paced = one[TARGET_SENDS_PER_S]
            cores = paced.cores_at_rate
            text = (
                f"at {TARGET_SENDS_PER_S:.0f} sends/s <= {TARGET_CORES} core: {cores:.2f} "
                f"(CPU {paced.cpu_per_1000:.3f} s/1000; achieved {paced.per_second:.0f}/s)"
            )
            if floor is not None:
                text += (
                    f"; floor, the channel alone: {floor.cpu_per_1000:.3f} s/1000, "
                    f"ratio {paced.cpu_per_1000 / floor.cpu_per_1000:.2f}x"
                )
            checks.append((text, cores <= TARGET_CORES))
        if TELEGRAM_RATE in one:
            slow = one[TELEGRAM_RATE]
            checks.append(
                (
                    f"at {TELEGRAM_RATE:.0f} sends/s <= {TARGET_CORES_AT_30} core: "
                    f"{slow.cores:.3f} (CPU {slow.cpu_per_1000 / 1000 * 1e3:.2f} ms a send, "
                    f"achieved {slow.per_second:.1f}/s)",
                    slow.cores <= TARGET_CORES_AT_30,
                )
            )
        two = [r for r in mine if r.workers == 2]
        if two and UNPACED in one:
            ratio = two[0].per_second / one[UNPACED].per_second
            checks.append(
                (
                    f"2 workers >= {TARGET_SCALING}x one: {ratio:.2f}x "
                    f"({two[0].per_second:.0f}/s vs {one[UNPACED].per_second:.0f}/s)",
                    ratio >= TARGET_SCALING,
                )
            )
        for text, passed in checks:
            print(f"target ({kind}, {TARGET_LATENCY_MS:.0f} ms): {text}: {_mark(passed)}")
            ok = ok and passed
    return ok


def channel_floor(fake_url: str, n: int, concurrency: int, latency_ms: float) -> Result:
    """The Telegram channel alone, paced at the target rate: what any dispatcher must spend."""
    measured = asyncio.run(
        measure(
            telegram_factory,
            ChannelKind.TELEGRAM,
            fake_url,
            n=n,
            concurrency=concurrency,
            latency_ms=latency_ms,
            transport="aiohttp",
            rate=TARGET_SENDS_PER_S,
        )
    )
    result = Result(
        "channel", latency_ms, 1, TARGET_SENDS_PER_S, n, measured.wall_s, measured.cpu_s
    )
    print(
        f"floor      channel alone paced {TARGET_SENDS_PER_S:.0f}/s latency {latency_ms:>3.0f} ms  "
        f"sends {n}  {result.per_second:>6.0f} sends/s  CPU {result.cpu_per_1000:.3f} s/1000",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 if the target is missed."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        url, fake_url, pace, concurrency = argv[1:5]
        asyncio.run(_child(url, fake_url, float(pace), int(concurrency)))
        return 0
    parser = argparse.ArgumentParser(description="dispatcher throughput against fake providers")
    parser.add_argument("--n", type=int, default=5000, help="measured sends per run")
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, TARGET_LATENCY_MS])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--n30", type=int, default=300, help="sends in the 30/s run")
    parser.add_argument("--database-url", help="a PostgreSQL server to also run on")
    args = parser.parse_args(argv)
    kinds = ["sqlite"] + (["postgresql"] if args.database_url else [])
    results: list[Result] = []
    violations: list[object] = []
    floor: Result | None = None
    print(f"load average: {open('/proc/loadavg').read().strip()}", flush=True)  # noqa: SIM115
    for latency in args.latency_ms:
        with fake_server(latency) as fake_url:
            if latency == TARGET_LATENCY_MS:
                floor = channel_floor(fake_url, args.n, args.concurrency, latency)
            for kind in kinds:
                with database(kind, args.database_url) as db:
                    plans: list[tuple[int, float]] = [(1, UNPACED)]
                    if latency == TARGET_LATENCY_MS:
                        plans += [(1, TARGET_SENDS_PER_S), (1, TELEGRAM_RATE)]
                    if kind == "postgresql":
                        plans.append((2, UNPACED))
                    for workers, rate in plans:
                        result = run(
                            db,
                            kind,
                            fake_url,
                            n=args.n30 if rate == TELEGRAM_RATE else args.n,
                            workers=workers,
                            rate=rate,
                            latency_ms=latency,
                            concurrency=args.concurrency,
                        )
                        report(result)
                        results.append(result)
            summary = server_summary(fake_url)
            violations += list(summary["violations"])  # type: ignore[call-overload]
    if violations:
        print(f"fake server saw spec violations: {violations[:5]}")
        return 1
    print(f"load average: {open('/proc/loadavg').read().strip()}", flush=True)  # noqa: SIM115
    return 0 if verdict(results, floor) else 1


if __name__ == "__main__":
    raise SystemExit(main())
