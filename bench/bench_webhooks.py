"""Inbound webhooks answered per second, and their latency, next to a bare endpoint (issue 4.8).

What runs, all on 127.0.0.1 and all in one run so that the figures are comparable:

* **bare**: a FastAPI app whose ``POST /webhooks/twilio/sms`` returns a fixed empty TwiML string
  (no form parsing, no signature, no database), served by uvicorn in its own process: the
  framework's ceiling on this machine (``bench/webhook_app.py --kind bare``).
* **the real app**: ``bot.web.create_app(settings, db)`` served by uvicorn in its own process
  (one process, lifespan on, as ``backorder-bot serve`` runs it) on a SQLite file holding
  ``--orders`` orders (1,000,000 by default; one customer per four orders, a fifth of them with a
  linked Telegram chat; each customer's latest order open with a backordered line). The file is
  built once with the migrations and a few ``INSERT ... SELECT`` statements, cached under
  ``var/bench/`` by size and schema head, and copied for each run (the run writes to it).
  Telegram's Bot API is the fake of ``tests/messaging/fake_providers.py``, in a third process.

Load, from generator processes of their own (aiohttp clients; ``--generators``):

* **twilio sms**: ``POST /webhooks/twilio/sms``, form-encoded as Twilio sends it, signed with
  ``X-Twilio-Signature`` (twilio's ``RequestValidator`` over ``PUBLIC_BASE_URL`` + path), a unique
  ``MessageSid`` each, from customers picked at random across the table, with bodies ``STATUS``,
  ``where is my order``, ``STATUS <their order number>`` and ``HELP``. The bare endpoint gets the
  very same requests.
* **telegram**: ``POST /webhooks/telegram`` with the secret header, a unique ``update_id`` each,
  from linked private chats: ``/status``, ``where is my order``, ``STATUS <number>``, ``/help``.

Each target is measured (a) **open loop at a fixed rate** (``--rate``, 200/s): request start times
are scheduled in advance and latency runs from the scheduled start, so a stalled server cannot
hide its queue (no coordinated omission); and (b) **closed loop**: ``--concurrency`` connections,
each sending its next request as soon as the last is answered: one connection gives the latency
of one request on an idle server (no queueing), 32 saturate the server (its throughput).
Each phase has a short warm-up that is not counted. The phases are interleaved and repeated
(``--repeats``) and the table shows the median of the repeats.

How to read it:

* ``req/s`` at saturation is the throughput; the ratios to bare are the issue's first target
  (>= 50%). ``p99`` at the fixed rate is its second (< 10 ms); when the fixed rate is above what
  the server can do, the requests queue and that p99 is mostly waiting (the verdict says so).
  In the open-loop rows ``req/s`` is the rate achieved, which falls below the rate offered then.
* ``srv ms/req`` is the server process's CPU time (all its threads, from /proc) per request: the
  work a request costs, which moves less with the machine's other load than wall-clock figures
  do (it still moves: CPU time grows when the cores are shared). For Telegram it includes the
  handlers that ran during the phase. The ratio of bare's to the app's is a second, steadier
  estimate of the throughput ratio.
* ``gen cores`` is the load generator's CPU use: near 1.0 means the generator, not the server, was
  the limit, and the row is a lower bound for the server.
* Telegram's webhook handles status questions and help in the request (the lean path of issue
  16: one transaction, no python-telegram-bot objects), answers 200, then sends the answer; any
  other update it only logs and queues, and PTB's handlers run after
  (the conversation, then ``sendMessage`` to the fake). The Telegram section says how many updates
  were fully handled (``inbound_messages.handled_at``), how long the queue took to drain after the
  load stopped, and the end-to-end handling rate. Their CPU competes with the webhook's.
* Errors are any non-2xx answer or failed request; there must be none.

* ``--trace``: the fixed-rate phases only, and what the app's slowest requests waited on, from
  inside the server (``bench/webhook_trace.py``): a latency histogram by route; the process's
  pauses (garbage collections, commits, WAL checkpoints, event-loop stalls, the hop to a worker
  thread, the wait for the write turn) with count, total, p99 and max; the slowest requests with
  their own waits and the pauses that overlapped them.
* ``--before``: the same app without ``bot.web.steady`` (``webhook_app.py --untuned``: no
  frozen heap, checkpoints in the commits), on a copy of its own, its phases interleaved with
  the app's: a before/after in one run.

    python bench/bench_webhooks.py [--orders 1000000] [--duration 10] [--rate 200]
        [--concurrency 1 32] [--repeats 2] [--generators 1] [--quick] [--trace] [--before]

``--quick`` (20,000 orders, 2 s phases, one repeat) is a smoke run of about a minute; it exits
non-zero only on errors. The full run exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import webhook_app as served  # noqa: E402
from bench import webhook_pg  # noqa: E402
from bench.bench_channels import fake_server, server_summary  # noqa: E402

BENCH_DIR = ROOT / "var" / "bench"
DATA_VERSION = 1  # bump when the generated rows change: the cached files are then rebuilt
ORDERS_PER_CUSTOMER = 4
TELEGRAM_EVERY = 5  # every fifth customer has a linked Telegram chat
CHAT_BASE = 6_000_000_000
PRODUCTS = 40
BACKORDERED_PRODUCTS = 10
AREA_CODES = "212415312617206305512303404702"  # ten US area codes, three digits each
SAMPLE_PEOPLE = 5000
TARGET_RATIO = 0.5
TARGET_P99_MS = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- the database ----------------------------------------------------------------------------


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return head or "base"


def cached_db(orders: int) -> tuple[Path, float | None]:
    """The cached database file for ``orders`` orders, built if missing; and its build time."""
    path = BENCH_DIR / f"webhooks-{orders}-{head_revision()}-v{DATA_VERSION}.db"
    if path.exists():
        return path, None
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + f".building-{os.getpid()}")
    started = time.perf_counter()
    try:
        build_db(building, orders)
        building.replace(path)
    finally:
        for leftover in building.parent.glob(building.name + "*"):
            leftover.unlink()
    return path, time.perf_counter() - started


def build_db(path: Path, orders: int) -> None:
    """Migrate an empty file, then fill it with a few big ``INSERT ... SELECT`` statements."""
    from store.migrate import upgrade

    upgrade(f"sqlite:///{path}")
    customers = max(1, orders // ORDERS_PER_CUSTOMER)
    first_open = orders - customers  # each customer's latest order is the open one
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + ".000000"
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 730 * 86400))
    step = max(1, 730 * 86400 // max(orders, 1))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "cache_size=-1000000",
            "temp_store=MEMORY",
        ):
            conn.execute(f"PRAGMA {pragma}")
        seq = "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)"
        conn.execute("BEGIN")
        conn.execute("INSERT INTO suppliers (id, name) VALUES (1, 'Bench Supplier')")
        conn.executemany(
            "INSERT INTO products (id, sku, name, price_cents, currency, category, stock_on_hand,"
            " supplier_id, eta, updated_at) VALUES (?, ?, ?, ?, 'USD', ?, ?, 1, ?, ?)",
            [
                (
                    n,
                    f"BENCH-{n:03d}",
                    f"Bench product {n}",
                    1000 + 250 * n,
                    ("kitchen", "home", "outdoor", "textiles")[n % 4],
                    0 if n <= BACKORDERED_PRODUCTS else 1000,
                    _date_plus(now, 14 + n) if n <= BACKORDERED_PRODUCTS else None,
                    stamp,
                )
                for n in range(1, PRODUCTS + 1)
            ],
        )
        conn.execute(
            "INSERT INTO customers (id, name, phone, locale, timezone, telegram_chat_id,"
            " telegram_user_id, preferred_channel, sms_state, telegram_state, created_at) "
            f"{seq} SELECT i + 1, 'Customer ' || i,"
            " '+1' || substr(?, (i % 10) * 3 + 1, 3) || (201 + (i / 10) / 10000)"
            " || printf('%04d', (i / 10) % 10000),"
            " CASE WHEN i % 3 = 0 THEN 'es' ELSE 'en' END,"
            " CASE WHEN i % 3 = 0 THEN 'Europe/Madrid' ELSE 'America/New_York' END,"
            " CASE WHEN i % ? = 0 THEN ? + i END, CASE WHEN i % ? = 0 THEN ? + i END,"
            " CASE WHEN i % ? = 0 THEN 'telegram' ELSE 'sms' END, 'active', 'active', ?"
            " FROM seq",
            (
                customers - 1,
                AREA_CODES,
                TELEGRAM_EVERY,
                CHAT_BASE,
                TELEGRAM_EVERY,
                CHAT_BASE,
                TELEGRAM_EVERY,
                stamp,
            ),
        )
        conn.execute("COMMIT")
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO orders (id, number, customer_id, placed_at, status, created_at) "
            f"{seq} SELECT i + 1, printf('B%07d', i), (i % ?) + 1,"
            " datetime(?, '+' || (i * ?) || ' seconds') || '.000000',"
            " CASE WHEN i >= ? THEN 'open' ELSE 'completed' END, ? FROM seq",
            (orders - 1, customers, start, step, first_open, stamp),
        )
        # One line per order; the open ones have it allocated and wait for a second line.
        conn.execute(
            "INSERT INTO order_lines (id, order_id, product_id, quantity, allocated_quantity,"
            " backordered_quantity, status, eta_slips, delay_notices, created_at) "
            f"{seq} SELECT i + 1, i + 1, ? + (i * 7) % ? + 1, 1, 1, 0,"
            " CASE WHEN i >= ? THEN 'allocated' ELSE 'shipped' END, 0, 0, ? FROM seq",
            (orders - 1, BACKORDERED_PRODUCTS, PRODUCTS - BACKORDERED_PRODUCTS, first_open, stamp),
        )
        conn.execute(
            "INSERT INTO order_lines (id, order_id, product_id, quantity, allocated_quantity,"
            " backordered_quantity, status, eta, first_eta, eta_slips, delay_notices, created_at) "
            f"{seq} SELECT ? + i + 1, ? + i + 1, i % ? + 1, 1, 0, 1, 'backordered',"
            " date(?, '+' || (7 + i % 30) || ' days'), date(?, '+' || (7 + i % 30) || ' days'),"
            " 0, 0, ? FROM seq",
            (
                orders - first_open - 1,
                orders,
                first_open,
                BACKORDERED_PRODUCTS,
                today,
                today,
                stamp,
            ),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
        _check_phones(conn)
    finally:
        conn.close()


def _date_plus(now: float, days: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now + days * 86400))


def _check_phones(conn: sqlite3.Connection) -> None:
    """The generated numbers must be ones the app's normalisation accepts, or no look-up hits."""
    import phonenumbers

    rows = conn.execute(
        "SELECT phone FROM customers WHERE id IN (1, (SELECT max(id) FROM customers))"
    )
    for (phone,) in rows:
        if not phonenumbers.is_valid_number(phonenumbers.parse(phone, None)):
            raise SystemExit(f"generated phone number {phone} is not valid")


def sample_people(db: Path, seed: int) -> dict[str, list[list[Any]]]:
    """Random customers across the table: (phone, latest order) and (chat id, latest order)."""
    rng = random.Random(seed)
    conn = sqlite3.connect(db)
    try:
        customers = conn.execute("SELECT max(id) FROM customers").fetchone()[0]
        orders = int(conn.execute("SELECT max(id) FROM orders").fetchone()[0])
        ids = rng.sample(range(1, customers + 1), min(SAMPLE_PEOPLE, customers))
        linked = [i for i in range(1, customers + 1, TELEGRAM_EVERY)]
        chats = rng.sample(linked, min(SAMPLE_PEOPLE, len(linked)))
        query = (
            "SELECT c.phone, c.telegram_chat_id, (SELECT number FROM orders o WHERE"
            " o.customer_id = c.id ORDER BY o.id DESC LIMIT 1) FROM customers c WHERE c.id = ?"
        )
        sms = [list(conn.execute(query, (i,)).fetchone()) for i in ids]
        telegram = [list(conn.execute(query, (i,)).fetchone()) for i in chats]
    finally:
        conn.close()
    return {
        "sms": [[phone, number] for phone, _chat, number in sms],
        "telegram": [[chat, number] for _phone, chat, number in telegram],
        "counts": [[customers, orders]],
    }


def inbound_counts(db: Path | str, channel: str) -> tuple[int, int]:
    """(logged, handled) inbound messages of a channel; ``db`` a SQLite file or a database URL."""
    query = "SELECT count(*), count(handled_at) FROM inbound_messages WHERE channel = :channel"
    if isinstance(db, str):
        from sqlalchemy import create_engine, text

        engine = _ENGINES.get(db) or _ENGINES.setdefault(db, create_engine(db))
        with engine.connect() as conn:
            row = conn.execute(text(query), {"channel": channel}).one()
        return int(row[0]), int(row[1])
    conn = sqlite3.connect(db, timeout=30)
    try:
        row = conn.execute(query.replace(":channel", "?"), (channel,)).fetchone()
    finally:
        conn.close()
    return int(row[0]), int(row[1])


_ENGINES: dict[str, Any] = {}


# ---- the load generator (its own process) ----------------------------------------------------

SMS_BODIES = ("STATUS", "where is my order", "STATUS {number}", "HELP")
TELEGRAM_TEXTS = ("/status", "where is my order", "STATUS {number}", "/help")

Request = tuple[str, bytes, dict[str, str]]


def request_maker(
    spec: dict[str, Any], people: dict[str, list[list[Any]]]
) -> Callable[[int], Request]:
    """Request ``i`` of a phase: path, body, headers. Deterministic in ``spec["seed"]``."""
    from twilio.request_validator import RequestValidator

    base = int(spec["id_base"])
    rng = random.Random(spec["seed"])
    if spec["kind"] in ("bare", "twilio"):
        validator = RequestValidator(served.TWILIO_AUTH_TOKEN)
        url = served.PUBLIC_BASE_URL + served.SMS_PATH
        senders = people["sms"]

        def sms(i: int) -> Request:
            phone, number = rng.choice(senders)
            sid = f"SM{base:08x}{i:024x}"
            params = {
                "ToCountry": "US",
                "ToState": "CA",
                "SmsMessageSid": sid,
                "NumMedia": "0",
                "ToCity": "SAN FRANCISCO",
                "FromZip": "",
                "SmsSid": sid,
                "FromState": "NY",
                "SmsStatus": "received",
                "FromCity": "",
                "Body": rng.choice(SMS_BODIES).format(number=number),
                "FromCountry": "US",
                "To": served.TWILIO_FROM_NUMBER,
                "ToZip": "94105",
                "NumSegments": "1",
                "MessageSid": sid,
                "AccountSid": served.TWILIO_ACCOUNT_SID,
                "From": phone,
                "ApiVersion": "2010-04-01",
            }
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(url, params),
            }
            return served.SMS_PATH, urlencode(params).encode(), headers

        return sms

    chats = people["telegram"]
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": served.TELEGRAM_WEBHOOK_SECRET,
    }

    def telegram(i: int) -> Request:
        chat, number = rng.choice(chats)
        text = rng.choice(TELEGRAM_TEXTS).format(number=number)
        message: dict[str, Any] = {
            "message_id": i + 1,
            "from": {"id": chat, "is_bot": False, "first_name": "Ada", "language_code": "en"},
            "chat": {"id": chat, "first_name": "Ada", "type": "private"},
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        update = {"update_id": base * 1_000_000 + i, "message": message}
        return "/webhooks/telegram", json.dumps(update).encode(), headers

    return telegram


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    messages: int = 0
    sent: int = 0
    last_done: float = 0.0  # when the last counted request was answered, from the window's start


async def _one(session: Any, url: str, request: Request) -> tuple[int, bool]:
    import aiohttp

    path, body, headers = request
    try:
        async with session.post(url + path, data=body, headers=headers) as answer:
            text = await answer.read()
            return answer.status, b"<Message" in text
    except (aiohttp.ClientError, TimeoutError):
        return 0, False


def _note(
    tally: _Tally, status: int, message: bool, latency: float, counted: bool, done: float
) -> None:
    tally.sent += 1
    if not counted:
        return
    tally.last_done = max(tally.last_done, done)
    tally.latencies.append(latency * 1000)
    tally.statuses[str(status)] = tally.statuses.get(str(status), 0) + 1
    tally.errors += not 200 <= status < 300
    tally.messages += message


async def _open_loop(
    session: Any, spec: dict[str, Any], get: Callable[[int], Request], t0: float
) -> _Tally:
    tally = _Tally()
    interval = 1.0 / float(spec["rate"])
    warmup, end = float(spec["warmup"]), float(spec["warmup"]) + float(spec["duration"])
    offset = float(spec["offset"]) * interval
    tasks: set[asyncio.Task[None]] = set()

    async def fire(i: int, scheduled: float) -> None:
        lag = time.perf_counter() - scheduled
        status, message = await _one(session, spec["url"], get(i))
        done = time.perf_counter()
        counted = scheduled - t0 >= warmup
        _note(tally, status, message, done - scheduled, counted, done - t0 - warmup)
        if counted:
            tally.lags.append(lag * 1000)

    i = 0
    while True:
        scheduled = t0 + offset + i * interval
        if scheduled - t0 >= end:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(fire(i, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
    if tasks:
        await asyncio.wait(tasks, timeout=60)
    return tally


async def _closed_loop(
    session: Any, spec: dict[str, Any], get: Callable[[int], Request], t0: float
) -> _Tally:
    tally = _Tally()
    start, end = t0 + float(spec["warmup"]), t0 + float(spec["warmup"]) + float(spec["duration"])
    counter = iter(range(10**9))

    async def worker() -> None:
        while True:
            began = time.perf_counter()
            if began >= end:
                return
            status, message = await _one(session, spec["url"], get(next(counter)))
            done = time.perf_counter()
            _note(tally, status, message, done - began, start <= done < end, done - start)

    await asyncio.gather(*(worker() for _ in range(int(spec["concurrency"]))))
    return tally


async def _generate(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    people = json.loads(Path(spec["people"]).read_text())
    make = request_maker(spec, people)
    seconds = float(spec["warmup"]) + float(spec["duration"])
    planned = (
        math.ceil(float(spec["rate"]) * seconds)
        if spec["mode"] == "rate"
        else min(int(seconds * 3000), 60_000)
    )  # made ahead so that the measured loop only sends; any beyond are made on the fly
    prepared = [make(i) for i in range(planned)]

    def get(i: int) -> Request:
        return prepared[i] if i < len(prepared) else make(i)

    limit = int(spec["concurrency"]) if spec["mode"] == "closed" else 512
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, skip_auto_headers=["User-Agent"]
    ) as session:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        cpu0, t0 = time.process_time(), time.perf_counter()
        loop = _open_loop if spec["mode"] == "rate" else _closed_loop
        tally = await loop(session, spec, get, t0)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    return {
        "latencies": [round(v, 4) for v in tally.latencies],
        "lags": [round(v, 4) for v in tally.lags],
        "statuses": tally.statuses,
        "errors": tally.errors,
        "messages": tally.messages,
        "sent": tally.sent,
        "last_done": tally.last_done,
        "cpu": cpu,
        "wall": wall,
    }


# ---- the parent: processes, phases, figures --------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[str]
    http: str
    loop: str


@contextmanager
def server(name: str, argv: list[str], log: Path) -> Iterator[Server]:
    """Start ``bench/webhook_app.py`` in a process of its own; stop it with SIGTERM."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.webhook_app", *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                process.wait(timeout=10)
                raise SystemExit(f"{name} server did not start:\n{log.read_text()[-3000:]}")
            ready = json.loads(line)
            yield Server(
                name, f"http://127.0.0.1:{ready['port']}", process, ready["http"], ready["loop"]
            )
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads (``/proc/<pid>/stat``), and of its live
    children (the workers of ``--workers N``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return own + sum(cpu_seconds(int(kid)) for kid in kids)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Phase:
    target: str  # "bare", "twilio sms", "telegram"
    load: str  # "200/s" or "32 conn"
    rps: float
    p50: float
    p99: float
    errors: int
    sent: int
    server_ms: float  # server CPU per request sent
    gen_cores: float
    lag_p99: float = math.nan
    counted: int = 0  # requests in the measured window
    messages: int = 0  # of those, TwiML answers with a <Message>
    # Telegram: what became of the updates accepted in this phase.
    accepted: int = 0
    handled: int = 0
    handled_by_end: int = 0
    drain_s: float = math.nan
    e2e_rate: float = math.nan
    e2e_ms: float = math.nan  # server CPU per update, webhook + handler
    send_messages: int = 0


@dataclass
class Plan:
    kind: str  # "bare", "twilio", "telegram"
    mode: str  # "rate", "closed"
    rate: float
    concurrency: int


TARGET_NAMES = {
    "bare": "bare",
    "twilio": "twilio sms",
    "telegram": "telegram",
    # --before: the same app without bot.web.steady, on a copy of its own (a same-run A/B)
    "twilio-before": "sms before",
    "telegram-before": "tg before",
}
BEFORE = "-before"


class Bench:
    def __init__(
        self, args: argparse.Namespace, run_dir: Path, db: Path | str, fake_url: str
    ) -> None:
        self.args = args
        self.run_dir = run_dir
        self.db = db  # the SQLite file, or the PostgreSQL URL the app writes to
        self.before_db: Path | str | None = None  # --before: the untuned app's
        self.fake_url = fake_url
        self.people = run_dir / "people.json"
        self.phase_no = 0

    def run(self, target: Server, plan: Plan) -> Phase:
        self.phase_no += 1
        kind = plan.kind.removesuffix(BEFORE)
        telegram = kind == "telegram"
        db = self.before_db if plan.kind.endswith(BEFORE) else self.db
        assert db is not None
        before = inbound_counts(db, "telegram") if telegram else (0, 0)
        sends_before = self._send_messages() if telegram else 0
        generators = self.args.generators
        specs = [
            {
                "kind": kind,
                "url": target.url,
                "mode": plan.mode,
                "rate": plan.rate / generators,
                "offset": g / generators,
                "concurrency": max(1, plan.concurrency // generators),
                "duration": self.args.duration,
                "warmup": self.args.warmup,
                "people": str(self.people),
                "id_base": self.phase_no * 16 + g,
                "seed": self.phase_no * 1000 + g,
            }
            for g in range(generators)
        ]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        processes = [
            subprocess.Popen(
                [sys.executable, __file__, "--generator", json.dumps(spec)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for spec in specs
        ]
        try:
            for process in processes:
                assert process.stdout is not None
                if process.stdout.readline().strip() != "ready":
                    raise SystemExit("a load generator failed to start")
            cpu0 = cpu_seconds(target.process.pid)
            for process in processes:
                _send(process.stdin, "go\n")
            reports = []
            for process in processes:
                assert process.stdout is not None
                reports.append(json.loads(process.stdout.readline()))
                process.wait(timeout=60)
            cpu = cpu_seconds(target.process.pid) - cpu0
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                for stream in (process.stdin, process.stdout):
                    if stream is not None:
                        stream.close()
        latencies = [v for r in reports for v in r["latencies"]]
        lags = [v for r in reports for v in r["lags"]]
        sent = sum(r["sent"] for r in reports)
        phase = Phase(
            target=TARGET_NAMES[plan.kind],
            load=f"{plan.rate:.0f}/s" if plan.mode == "rate" else f"{plan.concurrency} conn",
            # Open loop: when the server falls behind, the scheduled requests are answered later
            # than the window's end, and the rate achieved is lower than the rate offered.
            rps=len(latencies) / max([self.args.duration] + [r["last_done"] for r in reports]),
            p50=percentile(latencies, 0.50),
            p99=percentile(latencies, 0.99),
            errors=sum(r["errors"] for r in reports),
            sent=sent,
            server_ms=cpu / max(sent, 1) * 1000,
            gen_cores=max(r["cpu"] / r["wall"] for r in reports),
            lag_p99=percentile(lags, 0.99),
            counted=len(latencies),
            messages=sum(r["messages"] for r in reports),
        )
        if telegram:
            self._drain(db, target, phase, before, sends_before, cpu)
        return phase

    def _drain(
        self,
        db: Path | str,
        target: Server,
        phase: Phase,
        before: tuple[int, int],
        sends_before: int,
        phase_cpu: float,
    ) -> None:
        """Wait for the handlers to finish the updates the webhook accepted; time it."""
        stopped, cpu0 = time.perf_counter(), cpu_seconds(target.process.pid)
        logged, handled = inbound_counts(db, "telegram")
        phase.accepted = logged - before[0]
        phase.handled_by_end = handled - before[1]
        deadline = stopped + max(60.0, 10 * self.args.duration)
        while handled < logged and time.perf_counter() < deadline:
            time.sleep(0.05)
            logged, handled = inbound_counts(db, "telegram")
        drain = time.perf_counter() - stopped
        phase.handled = handled - before[1]
        phase.drain_s = drain if phase.handled_by_end < phase.accepted else 0.0
        span = self.args.warmup + self.args.duration + phase.drain_s
        phase.e2e_rate = phase.handled / span
        total_cpu = phase_cpu + cpu_seconds(target.process.pid) - cpu0
        phase.e2e_ms = total_cpu / max(phase.handled, 1) * 1000
        phase.send_messages = self._send_messages() - sends_before

    def _send_messages(self) -> int:
        summary = server_summary(self.fake_url)
        counts: dict[str, int] = summary["counts"]  # type: ignore[assignment]
        return int(counts["telegram"])


def _send(stream: IO[str] | None, text: str) -> None:
    assert stream is not None
    stream.write(text)
    stream.flush()


def median_phase(phases: list[Phase]) -> Phase:
    """The median of each figure over the repeats; errors and counts are summed."""

    def med(name: str) -> float:
        values = [getattr(p, name) for p in phases if not math.isnan(getattr(p, name))]
        return statistics.median(values) if values else math.nan

    first = phases[0]
    return Phase(
        target=first.target,
        load=first.load,
        rps=med("rps"),
        p50=med("p50"),
        p99=med("p99"),
        errors=sum(p.errors for p in phases),
        sent=sum(p.sent for p in phases),
        server_ms=med("server_ms"),
        gen_cores=max(p.gen_cores for p in phases),
        lag_p99=med("lag_p99"),
        counted=sum(p.counted for p in phases),
        messages=sum(p.messages for p in phases),
        accepted=sum(p.accepted for p in phases),
        handled=sum(p.handled for p in phases),
        handled_by_end=sum(p.handled_by_end for p in phases),
        drain_s=med("drain_s"),
        e2e_rate=med("e2e_rate"),
        e2e_ms=med("e2e_ms"),
        send_messages=sum(p.send_messages for p in phases),
    )


def print_table(rows: list[Phase]) -> None:
    print(
        f"{'target':<11} {'load':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f" {'srv ms/req':>10} {'gen cores':>9} {'gen lag p99':>11}"
    )
    for row in rows:
        lag = "" if math.isnan(row.lag_p99) else f"{row.lag_p99:.2f} ms"
        warn = "  (generator-bound?)" if row.gen_cores > 0.85 else ""
        print(
            f"{row.target:<11} {row.load:>8} {row.rps:>8.0f} {row.p50:>8.2f} {row.p99:>8.2f}"
            f" {row.errors:>7} {row.server_ms:>10.3f} {row.gen_cores:>9.2f} {lag:>11}{warn}"
        )


def verdict(rows: list[Phase], rate: float) -> tuple[bool, list[str]]:
    """The issue's targets: >= 50% of bare's throughput; p99 < 10 ms at the fixed rate."""
    lines: list[str] = []
    ok = True
    best: dict[str, Phase] = {}
    for row in rows:
        if row.load.endswith("conn") and (row.target not in best or row.rps > best[row.target].rps):
            best[row.target] = row
    bare = best.get("bare")
    for name in ("twilio sms", "telegram"):
        row = best.get(name)
        if bare is None or row is None:
            continue
        ratio = row.rps / bare.rps
        passed = ratio >= TARGET_RATIO
        ok = ok and passed
        lines.append(
            f"{name:<10} throughput / bare: {row.rps:.0f} / {bare.rps:.0f} = {ratio:.2f}"
            f"   target >= {TARGET_RATIO:.2f}  {'PASS' if passed else 'MISS'}"
            f"   (by server CPU per request: {bare.server_ms:.3f} / {row.server_ms:.3f} ms"
            f" = {bare.server_ms / row.server_ms:.2f})"
        )
    for row in rows:
        if row.target == "bare" or row.load != f"{rate:.0f}/s":
            continue
        passed = row.p99 < TARGET_P99_MS
        if row.target in ("twilio sms", "telegram"):  # the --before rows are only compared
            ok = ok and passed
        capacity = best.get(row.target)
        queueing = (
            f"   ({rate:.0f}/s is above its saturation throughput of {capacity.rps:.0f}/s:"
            " the latency is mostly queueing)"
            if capacity is not None and capacity.rps < rate
            else ""
        )
        lines.append(
            f"{row.target:<10} p99 at {row.load}: {row.p99:.2f} ms"
            f"   target < {TARGET_P99_MS:.0f} ms  {'PASS' if passed else 'MISS'}{queueing}"
        )
    return ok, lines


def header(args: argparse.Namespace, db: Path, built: float | None, servers: list[Server]) -> None:
    conn = sqlite3.connect(db)
    try:
        customers, orders, linked = conn.execute(
            "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders),"
            " (SELECT count(telegram_chat_id) FROM customers)"
        ).fetchone()
    finally:
        conn.close()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    load = os.getloadavg()
    print("webhook benchmark (issue 4 part 8), loopback 127.0.0.1 only")
    print(
        f"machine: {os.cpu_count()} cores ({model}), load average {load[0]:.2f}; shared and "
        "noisy: server, load generator and fake Bot API share these cores, so compare figures "
        "within one run"
    )
    print(
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, uvicorn http="
        f"{servers[0].http} loop={servers[0].loop}, bare one process, the app {args.workers}"
        f" worker process(es), access log "
        f"{'on' if args.access_log else 'off'}"
    )
    cache = f"built in {built:.1f} s" if built is not None else "cached"
    print(
        f"database: {'PostgreSQL, copied from a ' if args.postgres else ''}SQLite file,"
        f" {orders:,} orders, {customers:,} customers ({linked:,} with a "
        f"Telegram chat), {db.stat().st_size / 2**20:.0f} MiB, {cache} ({db.name})"
    )
    print(
        f"phases: {args.warmup:g} s warm-up + {args.duration:g} s measured; fixed rate "
        f"{args.rate:g}/s open loop (latency from the scheduled start); saturation: "
        f"{', '.join(str(c) for c in args.concurrency)} connections closed loop; "
        f"{args.generators} generator process(es); median of {args.repeats} repeat(s)"
    )
    print()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--generator"]:
        print(json.dumps(asyncio.run(_generate(json.loads(argv[1])))), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds a phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds a phase")
    parser.add_argument("--rate", type=float, default=200.0, help="the fixed rate, requests/s")
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        help="closed-loop connections (default: 1 and 32; with --quick: 32)",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--generators", type=int, default=1, help="load generator processes")
    parser.add_argument("--access-log", action="store_true", help="uvicorn's access log on")
    parser.add_argument("--keep", action="store_true", help="keep the run's database copy")
    parser.add_argument(
        "--before",
        action="store_true",
        help="also run the app without bot.web.steady (its own copy), phases interleaved",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="fixed-rate phases only; print what the app's slowest requests waited on"
        " (bench/webhook_trace.py)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="app processes on one port (serve --workers N)"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run the app on PostgreSQL: a database of its own is made on this server (e.g."
        " postgresql+psycopg://postgres@127.0.0.1:5432/postgres), filled from the SQLite file"
        " with COPY, and dropped after",
    )
    parser.add_argument(
        "--quick", action="store_true", help="20,000 orders, 2 s phases, one repeat"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.orders, args.duration, args.warmup, args.repeats = 20_000, 2.0, 0.5, 1
    if args.concurrency is None:
        args.concurrency = [32] if args.quick else [1, 32]
    db_file, built = cached_db(args.orders)
    run_dir = BENCH_DIR / f"webhooks-run-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    db = run_dir / "bench.db"
    shutil.copyfile(db_file, db)
    try:
        people = sample_people(db, seed=4)
        (run_dir / "people.json").write_text(json.dumps(people))
        with ExitStack() as stack:
            fake_url = stack.enter_context(fake_server(0.0))
            log_flag = ["--access-log"] if args.access_log else []
            bare = stack.enter_context(
                server("bare", ["--kind", "bare", *log_flag], run_dir / "bare.log")
            )
            app, app_db = start_app(stack, args, db, fake_url, "app")
            header(args, db, built, [bare, app])
            bench = Bench(args, run_dir, app_db, fake_url)
            targets = {"bare": bare, "twilio": app, "telegram": app}
            if args.before:
                shutil.copyfile(db_file, run_dir / "before.db")
                untuned, bench.before_db = start_app(
                    stack, args, run_dir / "before.db", fake_url, "before"
                )
                targets |= {"twilio-before": untuned, "telegram-before": untuned}
            plans = [Plan(kind, "rate", args.rate, 0) for kind in targets]
            if not args.trace:  # saturation's queueing would fill the slowest requests
                plans += [
                    Plan(kind, "closed", 0.0, c) for c in args.concurrency for kind in targets
                ]
            results: dict[tuple[str, str], list[Phase]] = {}
            for repeat in range(args.repeats):
                for plan in plans:
                    began = time.perf_counter()
                    phase = bench.run(targets[plan.kind], plan)
                    results.setdefault((phase.target, phase.load), []).append(phase)
                    print(
                        f"  [{repeat + 1}/{args.repeats}] {phase.target:<10} {phase.load:>8}: "
                        f"{phase.rps:7.0f} req/s  p50 {phase.p50:6.2f} ms  p99 {phase.p99:7.2f} ms"
                        f"  errors {phase.errors}  ({time.perf_counter() - began:.1f} s)",
                        flush=True,
                    )
            violations = server_summary(fake_url)["violations"]
            app_log = "".join(log.read_text() for log in run_dir.glob("app*.log"))
        rows = [median_phase(phases) for phases in results.values()]
        order = {name: n for n, name in enumerate(TARGET_NAMES.values())}
        rows.sort(key=lambda r: (r.load.endswith("conn"), order[r.target]))
        print()
        print_table(rows)
        print()
        ok, lines = verdict(rows, args.rate)
        for line in lines:
            print(line)
        print()
        print_telegram(rows)
        sms_rows = [r for r in rows if r.target == "twilio sms"]
        measured = sum(r.counted for r in sms_rows)
        replies = sum(r.messages for r in sms_rows)
        print(
            f"twilio sms: {replies:,} of {measured:,} measured requests answered with a"
            " <Message> (the rest: empty TwiML)"
        )
        errors = sum(r.errors for r in rows)
        unhandled = sum(r.accepted - r.handled for r in rows if r.target == "telegram")
        problems = app_log.count("Traceback") + app_log.count(" failed")
        print(
            f"errors (non-2xx or failed requests): {errors}; telegram updates never handled: "
            f"{unhandled}; app log problems: {problems}; fake Bot API spec violations: "
            f"{len(violations)}"  # type: ignore[arg-type]
        )
        if problems:
            print(app_log[-2000:])
        if args.trace:
            print_trace(run_dir / "trace-app.json", "the app")
            if args.before:
                print_trace(run_dir / "trace-before.json", "the app before (--untuned)")
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    if errors or unhandled or problems or violations:
        return 1
    return 0 if ok or args.quick else 1


def start_app(
    stack: ExitStack, args: argparse.Namespace, db: Path, fake_url: str, name: str
) -> tuple[Server, Path | str]:
    """The app's server on ``db`` (or a PostgreSQL copy of it); ``before`` runs it --untuned."""
    app_db: Path | str = db
    database = ["--db", str(db)]
    if args.postgres:
        # A database of its own per app: the name is the prefix and this process's id.
        prefix = "bench_webhooks" if name == "app" else f"bench_webhooks_{name}"
        app_db = stack.enter_context(webhook_pg.postgres_copy(db, args.postgres, prefix=prefix))
        database = ["--database-url", app_db]
    run_dir = db.parent
    argv = [
        "--kind",
        "app",
        *database,
        "--telegram-api",
        f"{fake_url}/bot",
        "--workers",
        str(args.workers),
        *(["--access-log"] if args.access_log else []),
        *(["--trace", str(run_dir / f"trace-{name}.json")] if args.trace else []),
        *(["--untuned"] if name == "before" else []),
    ]
    log = run_dir / ("app.log" if name == "app" else f"app-{name}.log")
    return stack.enter_context(server(name, argv, log)), app_db


def print_trace(path: Path, name: str) -> None:
    """The app's own view of its requests (written by bench/webhook_trace.py at shutdown)."""
    if not path.exists():
        print("no trace written (--workers > 1 is not traced)")
        return
    report = json.loads(path.read_text())
    bounds = report["histogram_ms_upper_bounds"]
    print(f"\ninside {name} (ASGI in to the last byte out), fixed-rate phases:")
    for route, hist in report["histograms"].items():
        cells = ", ".join(f"<={b}: {n}" for b, n in zip(bounds, hist["counts"], strict=True) if n)
        print(
            f"  {route}: n {hist['n']}, p50 {hist['p50']} ms, p99 {hist['p99']} ms,"
            f" max {hist['max']} ms; histogram (ms) {cells}"
        )
    print("pauses seen by the app (count, total, p99, max ms):")
    for kind, p in sorted(report["pauses"].items()):
        print(f"  {kind:<20} {p['count']:>7} {p['total_ms']:>10} {p['p99_ms']:>8} {p['max_ms']:>8}")
    print("slowest requests: their own waits, and the process's pauses overlapping them (ms):")
    for slow in report["slowest"]:
        print(
            f"  {slow['ms']:>8} {slow['path']:<22} own {slow['own_ms']};"
            f" process pauses overlapping {slow['overlapping_ms']}"
        )


def print_telegram(rows: list[Phase]) -> None:
    print(
        "telegram: status questions and help are handled in the webhook's request (the lean"
        " path), sendMessage after the 200; other updates are logged, queued, handled after"
    )
    for row in rows:
        if row.target != "telegram":
            continue
        print(
            f"  {row.load:>8}: accepted {row.accepted:,}, handled when the load stopped "
            f"{row.handled_by_end:,}, handled in the end {row.handled:,} (drain "
            f"{row.drain_s:.1f} s); end-to-end {row.e2e_rate:.0f} updates/s; server CPU "
            f"{row.e2e_ms:.2f} ms/update (webhook + handler); sendMessage calls "
            f"{row.send_messages:,}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
