"""A customer's timeline and a search on a shop with history: time per call.

Builds a throwaway database (a SQLite file by default; with ``--database-url`` a fresh
``bench_<random>`` database on that PostgreSQL server, dropped afterwards) with N customers,
each with ``--per-customer`` texts in and as many messages out, then times
``store.customer_timeline.timeline`` (first page, and the next) and ``store.search.search``
(by phone, last digits, name), the median of ``--runs`` calls.

    python bench/bench_timeline.py [--customers 5000] [--per-customer 40]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from store.customer_timeline import timeline
from store.db import Database
from store.migrate import upgrade
from store.models import Channel, Customer, InboundMessage, OutboxMessage
from store.search import search

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def fill(db: Database, customers: int, per: int) -> None:
    with db.session() as session:
        ids = list(
            session.scalars(
                insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
                [
                    {"name": f"Customer {i}", "phone": f"+1415555{i:04d}", "created_at": T0}
                    for i in range(customers)
                ],
            )
        )
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            session.execute(insert(InboundMessage), _inbound(chunk, per))
            session.execute(insert(OutboxMessage), _outbound(chunk, per))


def _inbound(ids: list[int], per: int) -> list[dict[str, object]]:
    return [
        {
            "channel": Channel.SMS,
            "provider_id": f"SM{cid}-{n}",
            "sender": f"+1415555{cid:04d}",
            "body": f"text {n}",
            "received_at": T0 + dt.timedelta(minutes=n * 7 + cid % 5),
            "customer_id": cid,
        }
        for cid in ids
        for n in range(per)
    ]


def _outbound(ids: list[int], per: int) -> list[dict[str, object]]:
    return [
        {
            "dedupe_key": f"bench:{cid}:{n}",
            "customer_id": cid,
            "channel": Channel.SMS,
            "address": f"+1415555{cid:04d}",
            "message": "backordered",
            "locale": "en",
            "body": f"message {n}",
            "created_at": T0 + dt.timedelta(minutes=n * 7 + 3),
            "due_at": T0,
        }
        for cid in ids
        for n in range(per)
    ]


@contextlib.contextmanager
def throwaway(server_url: str | None, tmp: str) -> Iterator[str]:
    """A new empty database: never the one ``server_url`` names, which may hold real data."""
    if server_url is None:
        yield f"sqlite:///{tmp}/bench.db"
        return
    url = make_url(server_url)
    name = f"bench_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def median_ms(call: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=5000, help="at most 10,000")
    parser.add_argument("--per-customer", type=int, default=40)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, throwaway(args.database_url, tmp) as url:
        upgrade(url)
        db = Database(url)
        started = time.perf_counter()
        fill(db, args.customers, args.per_customer)
        rows = args.customers * args.per_customer
        took = time.perf_counter() - started
        print(f"filled {rows} inbound + {rows} outbox rows in {took:.1f} s")
        cid = args.customers // 2
        with db.read_session() as session:
            deep = timeline(session, cid, limit=args.per_customer).next_cursor
            cases: dict[str, Callable[[], object]] = {
                "timeline, first page of 50": lambda: timeline(session, cid),
                "timeline, second page": lambda: timeline(session, cid, before=deep),
                "search by phone": lambda: search(session, f"(415) 555-{cid:04d}"),
                "search by last digits": lambda: search(session, f"5{cid:04d}"),
                "search by name": lambda: search(session, f"customer {cid}"),
            }
            for name, call in cases.items():
                print(f"{name}: {median_ms(call, args.runs):.2f} ms (median of {args.runs})")
        db.dispose()


if __name__ == "__main__":
    main()
