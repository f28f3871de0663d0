"""The claim loop: how many outbox rows per second one worker moves through the database
(claim -> "sending" -> outcome, all batched) when the provider answers instantly.

Compared in the same run with the naive loop the issue warns about: claim one row, commit,
record its outcome, commit. Prints both rates and their ratio.

    python bench/bench_claim.py [--rows 20000] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from messaging import outbox  # noqa: E402
from messaging.dispatcher import DispatchConfig, Dispatcher, Unlimited  # noqa: E402
from messaging.notifier import ShopVoice  # noqa: E402
from messaging.quiet_hours import QuietHours  # noqa: E402
from messaging.types import OutgoingMessage  # noqa: E402
from store.db import Database  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Channel, Customer, utcnow  # noqa: E402

NO_QUIET = QuietHours(dt.time(0), dt.time(0))


class InstantChannel:
    kind = Channel.TELEGRAM

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    async def send(self, message: OutgoingMessage) -> str:
        return str(next(self._ids))

    async def close(self) -> None:
        return None


def fill(db: Database, rows: int) -> None:
    with db.session() as session:
        customer = Customer(name="Bench", telegram_chat_id=1)
        session.add(customer)
        session.flush()
        outbox.enqueue(
            session,
            [
                outbox.QueuedMessage(
                    dedupe_key=f"bench:{i}",
                    customer_id=customer.id,
                    channel=Channel.TELEGRAM,
                    address=str(1000 + i),
                    message="broadcast",
                    locale="en",
                    body=f"message {i}",
                )
                for i in range(rows)
            ],
            utcnow(),
        )


def batched(db: Database) -> float:
    config = DispatchConfig(
        quiet_hours=NO_QUIET,
        rates={Channel.TELEGRAM: 1e9},
        voice=ShopVoice("Shop", "help"),
        batch_size=1000,
    )
    dispatcher = Dispatcher(
        db, {Channel.TELEGRAM: InstantChannel()}, {Channel.TELEGRAM: Unlimited()}, config
    )
    started = time.perf_counter()
    stats = asyncio.run(dispatcher.run_once())
    elapsed = time.perf_counter() - started
    assert stats.outcomes["sent"] > 0
    return stats.outcomes["sent"] / elapsed


def one_by_one(db: Database, rows: int) -> float:
    """The anti-pattern: a transaction per claim and per outcome."""
    channel = InstantChannel()
    started = time.perf_counter()
    for _ in range(rows):
        with db.session() as session:
            claimed = outbox.claim(
                session,
                worker="naive",
                limit=1,
                now=utcnow(),
                lease=dt.timedelta(minutes=5),
                quiet_hours=NO_QUIET,
            ).ready
        if not claimed:
            break
        with db.session() as session:
            outbox.mark_sending(session, [claimed[0].id], "naive")
        provider_id = asyncio.run(channel.send(_probe()))
        with db.session() as session:
            outbox.record_outcomes(
                session,
                [outbox.Outcome(claimed[0], "sent", provider_id=provider_id)],
                "naive",
                utcnow(),
            )
    return rows / (time.perf_counter() - started)


def _probe() -> OutgoingMessage:
    return OutgoingMessage(channel=Channel.TELEGRAM, address="1", text="x")


def _database(base: str | None, scratch: Path, name: str) -> tuple[str, str | None]:
    if base is None:
        return f"sqlite:///{scratch / (name + '.db')}", None
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False), name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--naive-rows", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite file)")
    args = parser.parse_args()
    fast, slow = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(args.repeat):
            for kind, rows, results in (
                ("batched", args.rows, fast),
                ("naive", args.naive_rows, slow),
            ):
                url, _ = _database(args.database_url, Path(scratch), f"bench_claim_{kind}_{i}")
                upgrade(url)
                db = Database(url)
                try:
                    fill(db, rows)
                    results.append(batched(db) if kind == "batched" else one_by_one(db, rows))
                finally:
                    db.dispose()
    backend = "postgresql" if args.database_url else "sqlite"
    batched_rate, naive_rate = statistics.median(fast), statistics.median(slow)
    print(f"claim loop on {backend}, median of {args.repeat} runs (instant provider)")
    print(f"  batched claim/mark/outcome   {batched_rate:9,.0f} rows/s  ({args.rows:,} rows)")
    print(f"  one transaction per step     {naive_rate:9,.0f} rows/s  ({args.naive_rows:,} rows)")
    print(f"  ratio                        {batched_rate / naive_rate:9.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
