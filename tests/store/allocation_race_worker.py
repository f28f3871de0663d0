"""One process of the overselling race: its own engine, mixed operations on one SKU.

Started by ``tests/store/test_concurrent_allocation.py`` (one per worker, like the dispatcher
processes of ``tests/messaging``). It opens its own ``Database`` on the shared URL, says it is
ready by creating ``<barrier>.ready.<worker>``, waits for ``<barrier>.go``, then runs ``--ops``
operations, each one whole transaction through ``Database.transaction`` (retried on deadlock,
as every writer is): place an order (``place_order``), receive stock (``receive_stock``), set the
shop's count (``upsert_product``, the API's PUT), answer an open offer (``accept_offer``: wait,
cancel or switch), or run the sweeps (``expire_offers``, ``check_delays``).
Prints one JSON line: the count of each outcome, the choices accepted (to check none was lost),
the units PUTs added to or took from the shelf, the retries, and any unexpected traceback::

    python -m tests.store.allocation_race_worker --url URL --worker 0 --ops 250 --barrier PATH
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.allocation import reserved_units
from store.catalog import ProductData, upsert_product
from store.db import Database
from store.delays import check_delays
from store.errors import StoreError
from store.models import Offer, OfferChoice, OfferStatus, OrderLine, Product
from store.offers import accept_offer, expire_offers
from store.orders import LineRequest, place_order
from store.policy import DEFAULT_POLICY
from store.stock import receive_stock
from tests import factories as f

SKU = "RACE"
ALTERNATIVE = "RACE-ALT"
CATEGORY = "race"
# Sweeps run "later" than everything else, so that they find offers to expire and lines due a
# delay notice, and a choice made after them meets an expired or superseded offer.
SWEEP_AT = f.NOW + DEFAULT_POLICY.offer_ttl + dt.timedelta(days=DEFAULT_POLICY.delay_notice_days)


class _Retries(logging.Handler):
    """Counts the retries ``store.retry`` logs, to report how contended the race was."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class Race:
    def __init__(self, db: Database, worker: int) -> None:
        self.db = db
        self.worker = worker
        self.rng = random.Random(worker)
        self.accepted: list[tuple[int, str]] = []  # (offer id, choice) that returned success
        self.shelf_delta = 0  # units the PUTs added to (or took from) the shop's shelf

    def place(self, n: int) -> str:
        quantity = self.rng.randint(1, 3)

        def work(session: Session) -> str:
            who = f.customer(session, phone=f"+1416{self.worker:03d}{n:04d}")
            placed = place_order(
                session,
                number=f"RACE-{self.worker}-{n}",
                customer=who,
                lines=[LineRequest(SKU, quantity)],
                placed_at=None,
                policy=DEFAULT_POLICY,
                now=f.NOW,
            )
            waiting = placed.order.lines[0].backordered_quantity
            return "placed_allocated" if waiting == 0 else "placed_backordered"

        return self.db.transaction(work)

    def receive(self, n: int) -> str:
        quantity = self.rng.randint(1, 3)

        def work(session: Session) -> str:
            result = receive_stock(
                session, SKU, quantity, now=f.NOW, reference=f"RCV-{self.worker}-{n}"
            )
            return "received_and_allocated" if result.allocations else "received"

        return self.db.transaction(work)

    def put(self, n: int) -> str:
        """A PUT with the shelf count a moment ago (read apart, as a shop's system would), give
        or take a unit: sometimes stale, sometimes below what is reserved (refused)."""
        with self.db.read_session() as session:
            product = session.scalars(select(Product).where(Product.sku == SKU)).one()
            count = max(0, product.stock_on_hand + reserved_units(session, product.id))
        count += self.rng.randint(-1, 2)

        def work(session: Session) -> int:
            # The row lock upsert_product takes, taken here first to measure the shelf before
            # this PUT; spelled out, not store.locking, so that mutating that cannot fool it.
            product = session.scalars(
                select(Product)
                .where(Product.sku == SKU)
                .with_for_update(key_share=True)
                .execution_options(populate_existing=True)
            ).one()
            before = product.stock_on_hand + reserved_units(session, product.id)
            upsert_product(session, _race_product(count), f.NOW)
            return count - before

        self.shelf_delta += self.db.transaction(work)
        return "put"

    def choose(self, n: int) -> str:
        with self.db.read_session() as session:
            open_offers = session.scalars(
                select(Offer.id)
                .join(OrderLine, OrderLine.id == Offer.line_id)
                .join(Product, Product.id == OrderLine.product_id)
                .where(Product.sku == SKU, Offer.status == OfferStatus.OPEN)
            ).all()
        if not open_offers:
            return "no_open_offer"
        choice = self.rng.choice([OfferChoice.WAIT, OfferChoice.CANCEL, OfferChoice.SWITCH])
        offer_id = self.rng.choice(open_offers)

        def work(session: Session) -> tuple[bool, str | None]:
            outcome = accept_offer(
                session, offer_id, choice, via="race", now=f.NOW, policy=DEFAULT_POLICY
            )
            return outcome.accepted, outcome.refusal

        accepted, refusal = self.db.transaction(work)
        if accepted:
            self.accepted.append((offer_id, choice.value))
            return f"accepted_{choice.value}"
        return f"refused_{refusal}"

    def sweep(self, n: int) -> str:
        def work(session: Session) -> str:
            expired = expire_offers(session, SWEEP_AT, DEFAULT_POLICY)
            noticed = check_delays(session, SWEEP_AT, DEFAULT_POLICY)
            return "swept" if expired or noticed else "swept_nothing"

        return self.db.transaction(work)


def _race_product(count: int) -> ProductData:
    """What the test created with ``f.product(session, SKU, ...)``, with another count."""
    return ProductData(
        sku=SKU,
        name=f"Product {SKU}",
        price_cents=10_000,
        category=CATEGORY,
        stock_on_hand=count,
        supplier="Acme Supply",
        alternatives=(),
    )


def run(url: str, worker: int, ops: int, barrier: Path) -> dict[str, object]:
    retries = _Retries()
    logging.getLogger("store.retry").addHandler(retries)
    db = Database(url)
    race = Race(db, worker)
    with db.read_session() as session:  # connected before the start, not after
        session.scalar(select(Product.id).where(Product.sku == SKU))
    barrier.with_name(f"{barrier.name}.ready.{worker}").touch()
    deadline = time.monotonic() + 60
    while not barrier.with_name(f"{barrier.name}.go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("never told to start")
        time.sleep(0.001)
    operations = [race.place, race.receive, race.put, race.choose, race.sweep]
    outcomes: Counter[str] = Counter()
    unexpected: list[str] = []
    started = time.perf_counter()
    for n in range(ops):
        operation = race.rng.choices(operations, weights=[5, 2, 1, 3, 0.5])[0]
        try:
            outcomes[operation(n)] += 1
        except StoreError as exc:  # a documented refusal: nothing was changed
            outcomes[f"refused_{type(exc).__name__}"] += 1
        except Exception:  # a deadlock that outlived its retries lands here too
            outcomes["unexpected"] += 1
            unexpected.append(traceback.format_exc())
    db.dispose()
    return {
        "worker": worker,
        "outcomes": dict(outcomes),
        "accepted": race.accepted,
        "shelf_delta": race.shelf_delta,
        "retries": retries.count,
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
