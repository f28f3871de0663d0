"""Chaos test of delivery: a broadcast sent by dispatchers that keep getting killed, to providers
that keep failing. Loopback only; every part is a real OS process.

A shop's customers wait on one backordered product, a mix of SMS and Telegram customers, some
opted out or unreachable before the broadcast and some opting out while it is queued. The
broadcast is queued by :class:`~messaging.broadcasts.BroadcastService` (one outbox row per
customer, dedupe key ``broadcast:<id>:customer:<id>``). Two dispatcher processes (rate limits
raised) send it to the recording fake provider with chaos on (``tests.messaging.recording_fake
--chaos``: 10% of sends fail, a quarter each HTTP 500, 429 with retry_after, timeouts that were
accepted, and dropped connections, half before and half after acceptance), while a killer thread
SIGKILLs a random dispatcher every 1-3 s (seeded) and starts a new one in its place.

When the outbox has nothing pending, claimed or sending (and no SMS send is left ``unknown``:
the dispatcher reconciles those through Twilio's message list), the kills stop. Telegram has no
such list, so a Telegram ``unknown`` row is never resent by the dispatcher: one whose message
reached the fake counts as delivered; for the others the test does what the CLI documents for a
person who knows the message did not arrive ("the customer says so"), ``backorder-bot outbox
retry``, and waits again. Then:

- every reachable customer got the message (the fake's own record of what it accepted);
- nothing is left ``claimed``, ``sending`` or ``pending``; no opted-out customer got anything;
- customers who got it twice are no more than the sends in flight at the kills: rows in
  ``sending`` owned by the killed worker, counted in the database right after each SIGKILL.

The figures (customers, reachable, delivered, duplicates, in flight at kills, kills, faults by
kind, wall time, final status counts) are printed and written as JSON to ``$CHAOS_REPORT`` (one
key per database) or to ``chaos-report.json`` in the test's tmp dir.

CI runs a reduced size: 2,000 customers on PostgreSQL (skipped without ``TEST_DATABASE_URL``),
600 on a SQLite file shared by the dispatchers. The full size, with one command::

    CHAOS_CUSTOMERS=20000 CHAOS_REPORT=var/chaos-report.json \\
    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
    .venv/bin/pytest tests/messaging/test_chaos.py -s

``CHAOS_SQLITE_CUSTOMERS`` sizes the SQLite run, ``CHAOS_SEED`` changes the dice.

Test knobs, all inside the dispatcher processes this module starts (``python -m
tests.messaging.test_chaos --worker-id ID``): a 3 s lease and 1 s housekeeping (so a killed
worker's rows come back within seconds, not minutes), 2 s client timeouts (the fake holds a
"timeout" answer for 4 s), and Twilio ``unknown`` rows reconciled after 1 s instead of 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot import wiring
from bot.settings import load_settings
from messaging import outbox
from messaging.broadcasts import BroadcastRequest, BroadcastService
from messaging.channels.aiohttp_request import AiohttpRequest
from messaging.channels.base import Channel as ChannelProtocol
from messaging.channels.sms import TwilioSmsChannel
from messaging.channels.telegram import TelegramChannel
from messaging.dispatcher import Dispatcher
from messaging.notifier import ShopVoice
from messaging.quiet_hours import QuietHours
from store.audience import AudienceFilter
from store.db import Database
from store.migrate import upgrade
from store.models import (
    Channel,
    Customer,
    DeliveryAttempt,
    OutboxMessage,
    OutboxStatus,
    ReachState,
    utcnow,
)
from tests import factories
from tests.messaging.recording_fake import dispatcher_env, running

CLI = Path(sys.executable).with_name("backorder-bot")
SKU = "CHAOS-KETTLE"
TEXT = "Good news about your Chaos Kettle: it ships on 12 December. Thank you for waiting!"

LEASE_SECONDS = 3.0
HOUSEKEEPING_SECONDS = 1.0
CLIENT_TIMEOUT_SECONDS = 2.0
STALL_MS = 4000
RECONCILE_AFTER_SECONDS = 1.0
CONCURRENCY = 100
KILL_EVERY = (1.0, 3.0)
OPERATOR_ROUNDS = 5

# Rows a dispatcher may still act on by itself.
_LIVE = (OutboxStatus.PENDING, OutboxStatus.CLAIMED, OutboxStatus.SENDING)


def _size(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


SEED = _size("CHAOS_SEED", 7)


# ---------------------------------------------------------------- the shop and its broadcast


@dataclass
class Audience:
    """Who should get the broadcast, on what, and who must not."""

    customers: int
    # customer id -> (provider, address, body) of their outbox row, for reachable customers
    reachable: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    # addresses of customers who opted out or are unreachable (before or while queued)
    silenced: set[tuple[str, str]] = field(default_factory=set)
    kinds: Counter[str] = field(default_factory=Counter)
    broadcast_id: int = 0


_KINDS = (
    ("sms", 45),
    ("telegram", 45),
    ("sms_opted_out", 3),  # STOP before the broadcast: no row is queued
    ("telegram_unreachable", 3),  # the bot was blocked before: no row is queued
    ("sms_stop_while_queued", 2),  # STOP after queueing: skipped at send time
    ("telegram_stop_while_queued", 2),  # /stop after queueing: skipped at send time
)


def build_audience(db: Database, customers: int, rng: random.Random) -> Audience:
    """Customers waiting on one backordered product, and the broadcast queued for them."""
    kinds = rng.choices([k for k, _ in _KINDS], [w for _, w in _KINDS], k=customers)
    now = utcnow()
    with db.session() as session:
        product = factories.product(session, SKU, eta=dt.date(2030, 12, 12))
        people = []
        for i, kind in enumerate(kinds):
            telegram = kind.startswith("telegram")
            people.append(
                {
                    "name": f"Chaos Customer {i}",
                    "phone": None if telegram else f"+1415{i:07d}",
                    "telegram_chat_id": 6_000_000_000 + i if telegram else None,
                    "preferred_channel": Channel.TELEGRAM if telegram else Channel.SMS,
                    "sms_state": (
                        ReachState.OPTED_OUT if kind == "sms_opted_out" else ReachState.ACTIVE
                    ),
                    "telegram_state": (
                        ReachState.UNREACHABLE
                        if kind == "telegram_unreachable"
                        else ReachState.ACTIVE
                    ),
                    "locale": "en",
                    "timezone": "UTC",
                    "created_at": now,
                }
            )
        ids = factories.waiting_customers(session, product, people, "CHAOS", now)
    service = BroadcastService(
        db, ShopVoice("Chaos Kitchen", "help@chaos.example"), QuietHours(dt.time(0), dt.time(0))
    )
    info, created = service.submit(
        BroadcastRequest(filters=AudienceFilter(sku=SKU), text=TEXT, created_by="chaos-test")
    )
    assert created
    # Opt-outs that arrive while the message waits in the outbox: honoured at send time.
    by_kind: dict[str, list[int]] = {}
    for cid, kind in zip(ids, kinds, strict=True):
        by_kind.setdefault(kind, []).append(cid)
    with db.session() as session:
        for kind, column in (
            ("sms_stop_while_queued", Customer.sms_state),
            ("telegram_stop_while_queued", Customer.telegram_state),
        ):
            if by_kind.get(kind):
                session.execute(
                    update(Customer)
                    .where(Customer.id.in_(by_kind[kind]))
                    .values({column: ReachState.OPTED_OUT})
                )
        queued = {
            cid: (channel, address, body)
            for cid, channel, address, body in session.execute(
                select(
                    OutboxMessage.customer_id,
                    OutboxMessage.channel,
                    OutboxMessage.address,
                    OutboxMessage.body,
                ).where(OutboxMessage.broadcast_id == info.id)
            )
        }
        keys = set(
            session.scalars(
                select(OutboxMessage.dedupe_key).where(OutboxMessage.broadcast_id == info.id)
            )
        )
    assert keys == {f"broadcast:{info.id}:customer:{cid}" for cid in queued}

    audience = Audience(customers, kinds=Counter(kinds), broadcast_id=info.id)
    stopped_later = {"sms_stop_while_queued", "telegram_stop_while_queued"}
    for i, (cid, kind) in enumerate(zip(ids, kinds, strict=True)):
        telegram = kind.startswith("telegram")
        provider, address = (
            ("telegram", people[i]["telegram_chat_id"])
            if telegram
            else (
                "twilio",
                people[i]["phone"],
            )
        )
        if kind in ("sms", "telegram"):
            assert queued[cid][:2] == (
                (Channel.TELEGRAM if telegram else Channel.SMS),
                str(address),
            )
            audience.reachable[cid] = (provider, str(address), queued[cid][2])
        else:
            # Queued before the opt-out, or never queued: either way nothing may arrive.
            assert (cid in queued) == (kind in stopped_later), kind
            audience.silenced.add((provider, str(address)))
    return audience


# ---------------------------------------------------------------- processes


@dataclass(frozen=True)
class ChaosFake:
    """The recording fake provider with chaos on: where to send, and where to ask."""

    url: str
    control: str

    def deliveries(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.control}/deliveries", timeout=30) as answer:
            body: dict[str, Any] = json.load(answer)
        return body

    def delivered(self) -> Counter[tuple[str, str, str]]:
        """How many times each (provider, recipient, text) was accepted."""
        return Counter(
            {
                (d["provider"], d["address"], d["text"]): d["count"]
                for d in self.deliveries()["delivered"]
            }
        )


@contextmanager
def chaos_fake(tmp_path: Path, seed: int) -> Iterator[ChaosFake]:
    options = ("--chaos", "--chaos-seed", str(seed), "--chaos-stall-ms", str(STALL_MS))
    with running(tmp_path / "fake.log", *options) as (url, control):
        yield ChaosFake(url, control)


@dataclass
class Kill:
    at: float
    worker: str
    sending: int  # rows in ``sending`` owned by the killed worker: sends in flight
    claimed: int  # rows it had claimed but not started: handed back when its lease ends


class Fleet:
    """Two dispatcher slots; a killer thread SIGKILLs one at random and refills the slot."""

    def __init__(self, db: Database, env: dict[str, str], logs: Path, seed: int) -> None:
        self._db = db
        self._env = env
        self._logs = logs
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._procs: list[tuple[subprocess.Popen[bytes], str] | None] = [None, None]
        self._generation = 0
        self._stop_killing = threading.Event()
        self._killer: threading.Thread | None = None
        self.kills: list[Kill] = []
        self.error: BaseException | None = None
        self.started = time.monotonic()

    def start(self) -> None:
        for slot in range(len(self._procs)):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        self._generation += 1
        worker = f"chaos-{slot}-{self._generation}"
        with (self._logs / f"worker-{slot}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.messaging.test_chaos", "--worker-id", worker],
                cwd=self._logs,  # not the repo: a developer's .env must not configure it
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._procs[slot] = (process, worker)

    def start_killing(self) -> None:
        self._killer = threading.Thread(target=self._kill_loop, name="chaos-killer", daemon=True)
        self._killer.start()

    def stop_killing(self) -> None:
        self._stop_killing.set()
        if self._killer is not None:
            self._killer.join(timeout=30)
        if self.error is not None:
            raise self.error

    def _kill_loop(self) -> None:
        try:
            while not self._stop_killing.wait(self._rng.uniform(*KILL_EVERY)):
                slot = self._rng.randrange(len(self._procs))
                with self._lock:
                    entry = self._procs[slot]
                    assert entry is not None
                    process, worker = entry
                    process.send_signal(signal.SIGKILL)
                    process.wait(timeout=30)
                    with self._db.read_session() as session:
                        held = dict(
                            session.execute(
                                select(OutboxMessage.status, func.count())
                                .where(OutboxMessage.claimed_by == worker)
                                .where(
                                    OutboxMessage.status.in_(
                                        [OutboxStatus.SENDING, OutboxStatus.CLAIMED]
                                    )
                                )
                                .group_by(OutboxMessage.status)
                            ).all()
                        )
                    self.kills.append(
                        Kill(
                            time.monotonic() - self.started,
                            worker,
                            held.get(OutboxStatus.SENDING, 0),
                            held.get(OutboxStatus.CLAIMED, 0),
                        )
                    )
                    self._spawn(slot)
        except BaseException as exc:  # surfaced by stop_killing
            self.error = exc

    def alive(self) -> bool:
        with self._lock:
            return all(e is not None and e[0].poll() is None for e in self._procs)

    def stop(self) -> None:
        """SIGTERM the workers (they finish what is in flight), SIGKILL any that hang."""
        with self._lock:
            entries = [e for e in self._procs if e is not None]
            for process, _ in entries:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process, _ in entries:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            self._procs = [None, None]


def status_counts(db: Database) -> dict[str, int]:
    with db.read_session() as session:
        return outbox.counts_by_status(session)


def sms_unknown(db: Database) -> int:
    with db.read_session() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    OutboxMessage.status == OutboxStatus.UNKNOWN,
                    OutboxMessage.channel == Channel.SMS,
                )
            )
            or 0
        )


def wait_until_settled(db: Database, fleet: Fleet, deadline: float, what: str) -> None:
    """Until no row is pending, claimed or sending and no SMS row waits for reconciliation."""
    while True:
        counts = status_counts(db)
        if not any(counts.get(s.value, 0) for s in _LIVE) and not sms_unknown(db):
            return
        if fleet.error is not None:
            raise fleet.error
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}: {counts}")
        time.sleep(0.5)


# ---------------------------------------------------------------- the test


def run_chaos(db: Database, tmp_path: Path, customers: int, label: str) -> dict[str, Any]:
    rng = random.Random(SEED)
    audience = build_audience(db, customers, rng)
    timeout = 120 + customers / 15
    started = time.monotonic()
    with chaos_fake(tmp_path, SEED) as fake:
        env = dispatcher_env(db.url, fake.url, DISPATCH_WORKERS="2")
        fleet = Fleet(db, env, tmp_path, SEED + 1)
        try:
            fleet.start()
            fleet.start_killing()
            deadline = started + timeout
            wait_until_settled(db, fleet, deadline, "the broadcast to drain under kills")
            fleet.stop_killing()
            # The last kill may have left rows behind a lease: let the survivors recover them.
            wait_until_settled(db, fleet, deadline, "the last killed worker's rows")
            drained_at = time.monotonic() - started
            assert fleet.alive()
            before_operator = fake.delivered()
            operator = operator_retries(db, fleet, fake, env, tmp_path, deadline)
        finally:
            fleet.stop()
        wall = time.monotonic() - started
        final_delivered = fake.delivered()
        answers = fake.deliveries()

    with db.read_session() as session:
        final_counts = outbox.counts_by_status(session)
        unknown_telegram = session.execute(
            select(OutboxMessage.address, OutboxMessage.body).where(
                OutboxMessage.status == OutboxStatus.UNKNOWN
            )
        ).all()
        reconciled = dict(
            session.execute(
                select(DeliveryAttempt.outcome, func.count())
                .where(DeliveryAttempt.outcome.like("reconciled_%"))
                .group_by(DeliveryAttempt.outcome)
            ).all()
        )

    def got(counter: Counter[tuple[str, str, str]]) -> Counter[int]:
        return Counter({cid: counter[key] for cid, key in audience.reachable.items()})

    per_customer = got(final_delivered)
    per_customer_before_operator = got(before_operator)
    missing = [cid for cid, n in per_customer.items() if n < 1]
    duplicates = sum(1 for n in per_customer.values() if n > 1)
    in_flight = sum(k.sending for k in fleet.kills)
    expected_keys = set(audience.reachable.values())
    strays = [key for key in final_delivered if key not in expected_keys]
    to_silenced = [key for key in final_delivered if (key[0], key[1]) in audience.silenced]
    report = {
        "database": label,
        "seed": SEED,
        "customers": customers,
        "audience_kinds": dict(audience.kinds),
        "reachable": len(audience.reachable),
        "delivered": sum(1 for n in per_customer.values() if n >= 1),
        "missing": len(missing),
        "duplicates": duplicates,
        "duplicates_before_operator_retry": sum(
            1 for n in per_customer_before_operator.values() if n > 1
        ),
        "sends_in_flight_at_kills": in_flight,
        "claims_handed_back_at_kills": sum(k.claimed for k in fleet.kills),
        "kills": len(fleet.kills),
        "faults": answers["faults"],
        "provider_requests": answers["counts"],
        "telegram_unknown_delivered": len(unknown_telegram),
        "telegram_operator_retries": operator,
        "sms_reconciled": reconciled,
        "final_status_counts": final_counts,
        "drained_s": round(drained_at, 1),
        "wall_s": round(wall, 1),
        "kill_log": [dataclasses.asdict(k) for k in fleet.kills],
    }
    write_report(tmp_path, report)

    assert answers["violations"] == [], answers["violations"]
    assert fleet.kills, "the killer never killed anything"
    assert sum(answers["faults"].values()) > 0, "the fake injected no faults"
    assert not missing, f"{len(missing)} reachable customers got nothing, e.g. {missing[:5]}"
    assert not to_silenced, f"opted-out or unreachable customers got messages: {to_silenced[:5]}"
    assert not strays, f"messages nobody queued reached the provider: {strays[:5]}"
    for status in _LIVE:
        assert final_counts.get(status.value, 0) == 0, final_counts
    assert set(final_counts) <= {"sent", "skipped", "unknown"}, final_counts
    # What is still unknown is Telegram, and it did arrive (never blindly resent).
    for address, body in unknown_telegram:
        assert final_delivered[("telegram", address, body)] >= 1, address
    assert (
        final_counts.get("skipped", 0)
        == audience.kinds["sms_stop_while_queued"] + (audience.kinds["telegram_stop_while_queued"])
    )
    assert duplicates <= in_flight, (
        f"{duplicates} customers got the message twice, more than the {in_flight} sends "
        "in flight at the kills"
    )
    return report


def operator_retries(
    db: Database, fleet: Fleet, fake: ChaosFake, env: dict[str, str], logs: Path, deadline: float
) -> list[int]:
    """Telegram ``unknown`` rows whose customer did not get the message, retried through the
    CLI as a person would once the customer says so; the number retried per round."""
    rounds: list[int] = []
    for _ in range(OPERATOR_ROUNDS):
        delivered = fake.delivered()
        with db.read_session() as session:
            unknown = session.execute(
                select(OutboxMessage.id, OutboxMessage.address, OutboxMessage.body).where(
                    OutboxMessage.status == OutboxStatus.UNKNOWN,
                    OutboxMessage.channel == Channel.TELEGRAM,
                )
            ).all()
        lost = [row.id for row in unknown if not delivered[("telegram", row.address, row.body)]]
        if not lost:
            return rounds
        rounds.append(len(lost))
        with (logs / "operator.log").open("a") as log:
            done = subprocess.run(
                [str(CLI), "outbox", "retry", *map(str, lost)],
                cwd=logs,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )
        assert done.returncode == 0, (logs / "operator.log").read_text()
        wait_until_settled(db, fleet, deadline, "the operator's retries")
    pytest.fail(f"Telegram messages still lost after {OPERATOR_ROUNDS} operator rounds: {rounds}")


def write_report(tmp_path: Path, report: dict[str, Any]) -> None:
    summary = {k: v for k, v in report.items() if k != "kill_log"}
    print(f"\nchaos ({report['database']}): " + json.dumps(summary, indent=2))
    configured = os.environ.get("CHAOS_REPORT")
    path = Path(configured) if configured else tmp_path / "chaos-report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing[report["database"]] = report
    path.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")


@pytest.mark.postgres
def test_broadcast_survives_killed_dispatchers_and_failing_providers_on_postgresql(
    on_postgres: Database, committed_db: Database, tmp_path: Path
) -> None:
    run_chaos(committed_db, tmp_path, _size("CHAOS_CUSTOMERS", 2000), "postgresql")


def test_broadcast_survives_killed_dispatchers_and_failing_providers_on_sqlite(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'chaos.db'}"
    upgrade(url)
    db = Database(url)
    try:
        run_chaos(db, tmp_path, _size("CHAOS_SQLITE_CUSTOMERS", 600), "sqlite")
    finally:
        db.dispose()


# ---------------------------------------------------------------- the dispatcher process


async def _dispatch(worker_id: str) -> None:
    """One dispatcher built from the environment as the CLI builds it (``bot.wiring``), with
    the test's short lease, housekeeping, client timeouts and reconciliation delay."""
    outbox.RECONCILE_AFTER = dt.timedelta(seconds=RECONCILE_AFTER_SECONDS)
    settings = load_settings()
    assert settings.telegram_bot_token is not None
    assert settings.twilio_auth_token is not None
    assert settings.twilio_account_sid
    db = Database(settings.database_url)
    channels: dict[Channel, ChannelProtocol] = {
        Channel.TELEGRAM: TelegramChannel(
            settings.telegram_bot_token.get_secret_value(),
            base_url=settings.telegram_api_base_url,
            request=AiohttpRequest(
                connection_pool_size=CONCURRENCY, read_timeout=CLIENT_TIMEOUT_SECONDS
            ),
            concurrency=CONCURRENCY,
        ),
        Channel.SMS: TwilioSmsChannel(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            base_url=settings.twilio_api_base_url,
            status_callback_url=wiring.status_callback_url(settings),
            timeout=CLIENT_TIMEOUT_SECONDS,
            concurrency=CONCURRENCY,
        ),
    }
    config = dataclasses.replace(
        wiring.dispatch_config(settings),
        lease=dt.timedelta(seconds=LEASE_SECONDS),
        housekeeping_interval=HOUSEKEEPING_SECONDS,
        poll_interval=0.2,
        concurrency=CONCURRENCY,
        worker_id=worker_id,
    )
    dispatcher = Dispatcher(
        db, channels, wiring.build_limiters(settings, settings.dispatch_workers), config
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, dispatcher.stop)
    try:
        stats = await dispatcher.run()
    finally:
        for channel in channels.values():
            await channel.close()
        db.dispose()
    print(json.dumps({"worker": worker_id, "outcomes": dict(stats.outcomes)}), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a dispatcher for the chaos test")
    parser.add_argument("--worker-id", required=True)
    args = parser.parse_args(argv)
    asyncio.run(_dispatch(args.worker_id))


if __name__ == "__main__":
    main(sys.argv[1:])
