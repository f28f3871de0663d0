"""One process of the overselling race: its own engine, mixed operations on one SKU.

Started by ``tests/store/test_concurrent_allocation.py`` (one per worker, like the dispatcher
processes of ``tests/messaging``). It opens its own ``Database`` on the shared URL, says it is
ready by creating ``<barrier>.ready.<worker>``, waits for ``<barrier>.go``, then runs ``--ops``
operations, each in its own transaction: place an order (``place_order``), receive stock
(``receive_stock``), or answer an open offer (``accept_offer``: wait, cancel or switch).
Prints one JSON line: the count of each outcome, and any unexpected exception's traceback::

    python -m tests.store.allocation_race_worker --url URL --worker 0 --ops 60 --barrier PATH
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from store.db import Database
from store.errors import StoreError
from store.models import Offer, OfferChoice, OfferStatus, OrderLine, Product
from store.offers import accept_offer
from store.orders import LineRequest, place_order
from store.policy import DEFAULT_POLICY
from store.stock import receive_stock
from tests import factories as f

SKU = "RACE"
ALTERNATIVE = "RACE-ALT"


def _place(db: Database, worker: int, n: int, rng: random.Random) -> str:
    with db.session() as session:
        who = f.customer(session, phone=f"+1416{worker:03d}{n:04d}")
        placed = place_order(
            session,
            number=f"RACE-{worker}-{n}",
            customer=who,
            lines=[LineRequest(SKU, rng.randint(1, 3))],
            placed_at=None,
            policy=DEFAULT_POLICY,
            now=f.NOW,
        )
        return (
            "placed_allocated"
            if placed.order.lines[0].backordered_quantity == 0
            else ("placed_backordered")
        )


def _receive(db: Database, worker: int, n: int, rng: random.Random) -> str:
    with db.session() as session:
        result = receive_stock(
            session, SKU, rng.randint(1, 3), now=f.NOW, reference=f"RCV-{worker}-{n}"
        )
        return "received_and_allocated" if result.allocations else "received"


def _choose(db: Database, rng: random.Random) -> str:
    with db.read_session() as session:
        open_offers = session.scalars(
            select(Offer.id)
            .join(OrderLine, OrderLine.id == Offer.line_id)
            .join(Product, Product.id == OrderLine.product_id)
            .where(Product.sku == SKU, Offer.status == OfferStatus.OPEN)
        ).all()
    if not open_offers:
        return "no_open_offer"
    choice = rng.choice([OfferChoice.WAIT, OfferChoice.CANCEL, OfferChoice.SWITCH])
    with db.session() as session:
        outcome = accept_offer(
            session,
            rng.choice(open_offers),
            choice,
            via="race",
            now=f.NOW,
            policy=DEFAULT_POLICY,
        )
    if outcome.accepted:
        return f"accepted_{choice.value}"
    return f"refused_{outcome.refusal}"


def run(url: str, worker: int, ops: int, barrier: Path) -> dict[str, object]:
    db = Database(url)
    rng = random.Random(worker)
    with db.read_session() as session:  # connected before the start, not after
        session.scalar(select(Product.id).where(Product.sku == SKU))
    barrier.with_name(f"{barrier.name}.ready.{worker}").touch()
    deadline = time.monotonic() + 60
    while not barrier.with_name(f"{barrier.name}.go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("never told to start")
        time.sleep(0.001)
    outcomes: Counter[str] = Counter()
    unexpected: list[str] = []
    started = time.perf_counter()
    for n in range(ops):
        operation = rng.choices([_place, _receive, _choose], weights=[5, 2, 3])[0]
        try:
            if operation is _choose:
                outcomes[_choose(db, rng)] += 1
            else:
                outcomes[operation(db, worker, n, rng)] += 1
        except StoreError as exc:  # a documented refusal: nothing was changed
            outcomes[f"refused_{type(exc).__name__}"] += 1
        except OperationalError as exc:
            # FOUND BY THIS RACE, NOT FIXED HERE: on PostgreSQL a switch (accept_offer ->
            # _switch_line, inserting the new line) can deadlock with another transaction's
            # row locks. PostgreSQL rolls the victim back whole, so no stock moves; it is
            # counted apart so the test can report it, but it is not a documented StoreError.
            if "deadlock detected" not in str(exc):
                raise
            outcomes["deadlock_rolled_back"] += 1
        except Exception:
            outcomes["unexpected"] += 1
            unexpected.append(traceback.format_exc())
    db.dispose()
    return {
        "worker": worker,
        "outcomes": dict(outcomes),
        "unexpected": unexpected,
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one process of the overselling race")
    parser.add_argument("--url", required=True)
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--ops", type=int, required=True)
    parser.add_argument("--barrier", type=Path, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.url, args.worker, args.ops, args.barrier)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
