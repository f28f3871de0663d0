"""Broadcast to N waiting customers: dry run and queueing, time and peak memory.

Builds a throwaway database (SQLite file by default, or ``--database-url`` for a PostgreSQL
server) with N customers each waiting on one SKU (a third Spanish, a tenth on Telegram, one in
fifty opted out), then runs each phase in a fresh Python process so that its peak RSS
(``VmHWM``, reset at the phase's start) is the phase's own:

* ``preview``: ``BroadcastService.preview`` (a dry run: stream, route, count, sample);
* ``queue``: ``BroadcastService.submit`` (stream, render, write every outbox row in batches);
* ``send``: the dispatcher (``Dispatcher.run_once``) sends every queued row through the sandbox
  channels with the rate limits lifted and quiet hours off, and the broadcast ends ``done``.

Target (issue 5): a 1,000,000-customer dry run and send each under 300 MB. The audience is
streamed with a server-side cursor in chunks of ``BATCH_SIZE`` and queued batch by batch, so
memory should not grow with N: compare ``--customers 100000`` with ``--customers 1000000``.

    python bench/bench_broadcast.py [--customers 100000] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from messaging.broadcasts import BroadcastRequest, BroadcastService  # noqa: E402
from messaging.channels.sandbox import SandboxChannel  # noqa: E402
from messaging.dispatcher import DispatchConfig, Dispatcher, Unlimited  # noqa: E402
from messaging.notifier import ShopVoice  # noqa: E402
from messaging.quiet_hours import QuietHours  # noqa: E402
from store.audience import AudienceFilter  # noqa: E402
from store.db import Database  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import (  # noqa: E402
    Broadcast,
    BroadcastStatus,
    Channel,
    Customer,
    LineStatus,
    Order,
    OrderLine,
    OutboxMessage,
    OutboxStatus,
    Product,
    ReachState,
)

NOW = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
TARGET_MB = 300
CHUNK = 50_000
REQUEST = BroadcastRequest(
    AudienceFilter(sku="SKU-1"),
    text="Hi {{ first_name }}, {{ product }} (order {{ order_number }}) now arrives {{ eta }}.",
    created_by="bench",
)


def build(db: Database, customers: int) -> None:
    """N customers, each with one backordered line for SKU-1, inserted in chunks."""
    with db.session() as session:
        session.add(
            Product(
                sku="SKU-1",
                name="Enamelled Dutch Oven 5 L",
                price_cents=11_900,
                category="kitchen",
                eta=dt.date(2026, 12, 20),
            )
        )
    for start in range(0, customers, CHUNK):
        stop = min(customers, start + CHUNK)
        with db.session() as session:
            product_id = session.scalar(select(Product.id).where(Product.sku == "SKU-1"))
            base = session.scalar(select(func.coalesce(func.max(Customer.id), 0))) or 0
            session.execute(
                insert(Customer),
                [
                    {
                        "name": f"Customer {i}",
                        "phone": f"+1415{i:07d}",
                        "locale": "es" if i % 3 == 0 else "en",
                        "timezone": "America/New_York" if i % 2 else "Europe/Madrid",
                        "telegram_chat_id": 10**9 + i if i % 10 == 0 else None,
                        "preferred_channel": Channel.TELEGRAM if i % 10 == 0 else Channel.SMS,
                        "sms_state": ReachState.OPTED_OUT if i % 50 == 7 else ReachState.ACTIVE,
                    }
                    for i in range(start, stop)
                ],
            )
            order_base = session.scalar(select(func.coalesce(func.max(Order.id), 0))) or 0
            session.execute(
                insert(Order),
                [
                    {
                        "number": f"N{i:08d}",
                        "customer_id": base + 1 + (i - start),
                        "placed_at": NOW - dt.timedelta(days=3 + i % 30),
                    }
                    for i in range(start, stop)
                ],
            )
            session.execute(
                insert(OrderLine),
                [
                    {
                        "order_id": order_base + 1 + (i - start),
                        "product_id": product_id,
                        "quantity": 1,
                        "backordered_quantity": 1,
                        "status": LineStatus.BACKORDERED,
                        "eta": dt.date(2026, 12, 20),
                    }
                    for i in range(start, stop)
                ],
            )


def _service(db: Database) -> BroadcastService:
    return BroadcastService(
        db,
        ShopVoice("Casa Ejemplo", "help@example.com"),
        QuietHours(dt.time(21), dt.time(8)),
        clock=lambda: NOW,
    )


def phase(url: str, name: str) -> dict[str, float]:
    """One measured phase, run in this (fresh) process."""
    reset_peak_rss()
    db = Database(url)
    try:
        service = _service(db)
        started = time.perf_counter()
        if name == "preview":
            preview = service.preview(REQUEST)
            handled = preview.tally.matched
            recipients = preview.tally.recipients
        elif name == "send":
            handled = recipients = _send_everything(db)
        else:
            info, _ = service.submit(REQUEST)
            handled = info.counts["matched"]
            recipients = info.counts["queued"]
            with db.read_session() as session:
                rows = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
            assert rows == recipients, f"{rows} outbox rows for {recipients} recipients"
        seconds = time.perf_counter() - started
    finally:
        db.dispose()
    return {
        "seconds": seconds,
        "customers": handled,
        "recipients": recipients,
        "peak_rss_mb": peak_rss_mb(),
    }


def _send_everything(db: Database) -> int:
    """Dispatch every due row through the sandbox channels, unthrottled; the number sent."""
    channels = {kind: SandboxChannel(kind) for kind in (Channel.SMS, Channel.TELEGRAM)}
    dispatcher = Dispatcher(
        db,
        channels,
        {kind: Unlimited() for kind in channels},
        DispatchConfig(
            quiet_hours=QuietHours(dt.time(0), dt.time(0)),  # equal: no quiet hours
            rates=dict.fromkeys(channels, 1_000_000.0),
            voice=ShopVoice("Casa Ejemplo", "help@example.com"),
        ),
        clock=lambda: NOW + dt.timedelta(minutes=1),
    )
    stats = asyncio.run(dispatcher.run_once())
    sent = stats.outcomes["sent"]
    with db.read_session() as session:
        left = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status != OutboxStatus.SENT)
        )
        broadcast_id = session.scalar(select(Broadcast.id))
    assert left == 0, f"{left} rows not sent"
    assert broadcast_id is not None
    status = _service(db).progress(broadcast_id).broadcast.status  # what an agent would see
    assert status == BroadcastStatus.DONE, status
    return sent


def reset_peak_rss() -> None:
    """Start the peak over from the current RSS (Linux: ``5`` to ``/proc/self/clear_refs``).

    A child process starts with its parent's high-water mark here, so without this a phase
    would report the parent's size after building the data.
    """
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """This process's peak resident set since ``reset_peak_rss`` (VmHWM).

    Not ``ru_maxrss``: on Linux it survives ``exec`` and cannot be reset.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_phase(url: str, name: str) -> dict[str, float]:
    # A phase of a 1M run takes minutes: say which one is running (stderr, not the table).
    print(f"  running {name} ...", file=sys.stderr, flush=True)
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--url", url],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _baseline_rss() -> float:
    """A fresh process that imports the same modules and does nothing: the floor."""
    out = subprocess.run(
        [sys.executable, __file__, "--phase", "idle", "--url", "sqlite://"],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite file)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "idle":
        reset_peak_rss()
        print(json.dumps({"peak_rss_mb": peak_rss_mb()}))
        return 0
    if args.phase:
        print(json.dumps(phase(args.url, args.phase)))
        return 0

    base = args.database_url or os.environ.get("TEST_DATABASE_URL")
    backend = "postgresql" if base else "sqlite"
    with tempfile.TemporaryDirectory() as scratch:
        name = None
        if base:
            name = f"bench_broadcast_{os.getpid()}"
            admin = create_engine(base, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            url = make_url(base).set(database=name).render_as_string(hide_password=False)
        else:
            url = f"sqlite:///{Path(scratch) / 'broadcast.db'}"
        try:
            upgrade(url)
            db = Database(url)
            started = time.perf_counter()
            build(db, args.customers)
            db.dispose()
            build_s = time.perf_counter() - started
            floor = _baseline_rss()
            results = {p: _run_phase(url, p) for p in ("preview", "queue", "send")}
        finally:
            if name is not None and base:
                admin = create_engine(base, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()

    print(f"broadcast to {args.customers:,} waiting customers on {backend}")
    print(
        f"  (building the data took {build_s:.1f} s; a process importing the code: {floor:.0f} MB)"
    )
    for label, r in results.items():
        rate = r["customers"] / r["seconds"] if r["seconds"] else 0.0
        verdict = "PASS" if r["peak_rss_mb"] <= TARGET_MB else "MISS"
        print(
            f"  {label:8s} {r['seconds']:7.2f} s  {rate:9,.0f} customers/s  "
            f"{int(r['recipients']):,} recipients  peak RSS {r['peak_rss_mb']:6.1f} MB  "
            f"(target <= {TARGET_MB} MB: {verdict})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
