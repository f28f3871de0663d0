"""The signed order feed's cost per event, against placing the same orders directly.

On a fresh database (a SQLite file under ``var/bench/``, or ``--database-url``) migrated to head
with 20 products, half out of stock (so about half the lines are backorders with their offer and
event), this process places ``-n`` orders two ways, each order with a new customer:

- **floor**: ``store.orders.place_order`` called directly, one transaction per order, as
  ``POST /api/orders`` does after its validation;
- **feed**: the same orders as ``order`` events through the real app's ``POST /webhooks/orders``
  (``create_app``, in process over ASGI: no sockets, so what is measured is our code), signed,
  in batches of ``--batch``; then every batch sent again, which must answer ``duplicate`` for
  every event and write nothing.

CPU time of this process (``time.process_time``, all threads) per order is the figure: wall
clock on a shared machine is noise. Target: the feed's CPU per event within 2x the floor's (the
signature, JSON, validation and the exactly-once claim must cost less than placing the order).

    .venv/bin/python bench/bench_order_feed.py -n 500 [--batch 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-feed-secret-0123456789abcdef"
SKUS = [f"SKU-{i:02d}" for i in range(20)]
TARGET_RATIO = 2.0


def _database(url: str | None) -> Any:
    from store.db import Database
    from store.migrate import upgrade

    if url is None:
        path = ROOT / "var/bench/order_feed.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    from tests import factories as f

    with db.session() as session:
        for i, sku in enumerate(SKUS):
            f.product(session, sku, stock=0 if i % 2 else 10**6, eta=None)
    return db


def _order(prefix: str, i: int) -> dict[str, Any]:
    return {
        "number": f"{prefix}-{i}",
        "placed_at": "2026-11-02T10:00:00Z",
        "currency": "USD",
        # Distinct valid numbers per way (n <= 10,000), none the tests write by hand.
        "customer": {"name": f"Customer {i}", "phone": f"+1415{556 + (prefix == 'F')}{i:04d}"},
        "lines": [{"sku": SKUS[i % len(SKUS)], "quantity": 1}],
    }


def floor(db: Any, n: int) -> float:
    """CPU seconds per order placed directly."""
    from store.customers import CustomerData, upsert_customer
    from store.models import utcnow
    from store.orders import LineRequest, place_order
    from store.policy import Policy

    started = time.process_time()
    for i in range(n):
        order = _order("D", i)

        def work(session: Any, order: dict[str, Any] = order) -> None:
            who = upsert_customer(
                session,
                CustomerData(name=order["customer"]["name"], phone=order["customer"]["phone"]),
            )
            session.flush()
            place_order(
                session,
                number=order["number"],
                customer=who,
                lines=[LineRequest(line["sku"], line["quantity"]) for line in order["lines"]],
                placed_at=None,
                policy=Policy(),
                now=utcnow(),
            )

        db.transaction(work)
    return (time.process_time() - started) / n


async def feed(db: Any, n: int, batch: int) -> tuple[float, bool]:
    """CPU seconds per event through the route, and whether the repeats all were duplicates."""
    import httpx

    from bot.settings import Settings
    from bot.web import create_app
    from tests.bot.integrations.orderfeed.harness import client_module

    sign = client_module().sign
    settings = Settings(order_feed_secret=SECRET)  # type: ignore[arg-type]
    app = create_app(settings, db)
    bodies = []
    for start in range(0, n, batch):
        events = [
            {
                "id": f"evt-{i}",
                "type": "order",
                "occurred_at": "2026-11-02T10:00:00Z",
                "order": _order("F", i),
            }
            for i in range(start, min(n, start + batch))
        ]
        bodies.append(json.dumps({"events": events}).encode())

    async def post(client: httpx.AsyncClient, body: bytes) -> list[str]:
        ts = int(time.time())
        headers = {"X-Feed-Timestamp": str(ts), "X-Feed-Signature": sign(SECRET, ts, body)}
        answer = await client.post("/webhooks/orders", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return [r["outcome"] for r in answer.json()["results"]]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        started = time.process_time()
        first = [o for body in bodies for o in await post(client, body)]
        spent = time.process_time() - started
        again = [o for body in bodies for o in await post(client, body)]
    ok = first == ["applied"] * n and again == ["duplicate"] * n
    return spent / n, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, choices=range(1, 10_001), metavar="N")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    os.chdir(ROOT / "var/bench" if (ROOT / "var/bench").exists() else ROOT)
    if args.database_url is not None:
        from bench.pg_scratch import throwaway_database

        with throwaway_database(args.database_url, "bench_order_feed") as url:
            return run(args, url)
    return run(args, None)


def run(args: argparse.Namespace, database_url: str | None) -> int:
    """The whole measurement on a fresh database (``None``: a SQLite file)."""
    db = _database(database_url)
    bare = floor(db, args.n)
    per_event, once = asyncio.run(feed(db, args.n, args.batch))
    from sqlalchemy import func, select

    from store.models import Order
    from store.tables_orderfeed import FeedEvent

    with db.read_session() as session:
        rows = session.scalar(select(func.count()).select_from(FeedEvent))
        orders = session.scalar(select(func.count()).select_from(Order))
    once = once and rows == args.n and orders == 2 * args.n
    db.dispose()
    ratio = per_event / bare
    verdict = "PASS" if ratio <= TARGET_RATIO and once else "MISS"
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(
        f"engine: {db.engine.dialect.name}; n={args.n}, batches of {args.batch};"
        f" load {' '.join(load)}"
    )
    print(f"floor  (place_order directly): {bare * 1000:.2f} ms CPU per order")
    print(f"figure (POST /webhooks/orders): {per_event * 1000:.2f} ms CPU per event")
    print(
        f"target: feed <= {TARGET_RATIO:.1f}x floor; measured {ratio:.2f}x; "
        f"{'every event applied once, repeats duplicate' if once else 'NOT applied exactly once'}"
        f" -> {verdict}"
    )
    return 0 if once else 1


if __name__ == "__main__":
    sys.exit(main())
