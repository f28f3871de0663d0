"""Stock reservation: atomic, never below zero, oldest waiting order first.

``take_stock`` is the only place that decrements stock. It is a conditional UPDATE
(``... WHERE stock_on_hand >= :take``), so two transactions racing for the last units can never
both succeed: on PostgreSQL the second re-checks the condition after the first commits; on SQLite
writers are serialised by ``BEGIN IMMEDIATE``. A CHECK constraint backs it up. Every caller also
holds the product's row lock first (the lock order of ``store.locking``), which is what keeps a
receipt, a choice and a ``PUT`` from deadlocking on the product's lines and offers.

The stock model: ``Product.stock_on_hand`` holds the units *free to promise*. Units given to a
line (``allocated_quantity`` of a line not yet shipped) are *reserved*: still on the shelf, no
longer free. The shop's own count (the API's and the catalog's ``stock_on_hand``) is the units on
its shelf, free plus reserved, so setting it twice to the same number changes nothing the second
time (``set_shop_count``). Receipts add free units; allocation takes only free units.

Shipping (``store.shipments``) moves reserved units off the shelf: it never touches
``stock_on_hand`` (the free units stay free) and adds to the line's ``shipped_quantity``, which
a CHECK keeps within its ``allocated_quantity``. A line therefore reserves
``allocated_quantity - shipped_quantity``: a line partly shipped (or a backordered line whose
allocated units went ahead) keeps reserving only its unshipped allocated units, and a shipped
line reserves none. So the shop's count after a shipment is the old count minus the units
shipped, as on its shelf. A line given up later (cancel, switch) releases only its unshipped
units back to free stock: shipped units are the customer's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, contains_eager

from store import events
from store.errors import InvalidInput
from store.locking import lock_products
from store.models import (
    EventKind,
    LineStatus,
    Offer,
    OfferStatus,
    Order,
    OrderLine,
    Product,
)


def take_stock(session: Session, product_id: int, wanted: int) -> int:
    """Reserve up to ``wanted`` units; return how many were reserved (possibly 0)."""
    if wanted <= 0:
        return 0
    while True:
        available = session.execute(
            select(Product.stock_on_hand).where(Product.id == product_id)
        ).scalar_one()
        take = min(available, wanted)
        if take <= 0:
            return 0
        result = session.execute(
            update(Product)
            .where(Product.id == product_id, Product.stock_on_hand >= take)
            .values(stock_on_hand=Product.stock_on_hand - take)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            _refresh_stock(session, product_id)
            return take
        # Someone took units between our read and our update: read again and retry.


# Lines whose allocated units, less those shipped, are still on the shop's shelf.
RESERVING_STATUSES = (LineStatus.ALLOCATED, LineStatus.BACKORDERED)


def reserved_units(session: Session, product_id: int) -> int:
    """Units of a product allocated to lines and not shipped yet."""
    unshipped = OrderLine.allocated_quantity - OrderLine.shipped_quantity
    total = session.scalar(
        select(func.coalesce(func.sum(unshipped), 0)).where(
            OrderLine.product_id == product_id, OrderLine.status.in_(RESERVING_STATUSES)
        )
    )
    return int(total or 0)


def set_shop_count(session: Session, product: Product, count: int, now: dt.datetime) -> None:
    """The shop says ``count`` units are on its shelf: free becomes ``count`` minus reserved.

    The caller holds the product's row lock (taken before any line's, the documented lock
    order), so no allocation can slip between reading the reserved units and writing the free
    ones. A count below the reserved units would mean units promised to customers are gone:
    that is refused, not silently "fixed", so a person decides which orders lose them.
    """
    reserved = reserved_units(session, product.id)  # the caller flushed: the product has an id
    if count < reserved:
        raise InvalidInput(
            f"stock_on_hand {count} for {product.sku} is below what is already promised:"
            f" {reserved} units are reserved for orders not yet shipped;"
            " ship or cancel those lines first, or check the count",
            field="stock_on_hand",
        )
    product.stock_on_hand = count - reserved
    session.flush()
    if product.stock_on_hand > 0:
        allocate_waiting(session, product.id, now)


def add_stock(session: Session, product_id: int, quantity: int) -> None:
    if quantity <= 0:
        return
    session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(stock_on_hand=Product.stock_on_hand + quantity)
        .execution_options(synchronize_session=False)
    )
    _refresh_stock(session, product_id)


def _refresh_stock(session: Session, product_id: int) -> None:
    """The UPDATE bypassed the ORM: make a loaded Product re-read its stock on next access."""
    product = session.identity_map.get(session.identity_key(Product, product_id))
    if product is not None:
        session.expire(product, ["stock_on_hand"])


@dataclass(frozen=True, slots=True)
class Allocation:
    line: OrderLine
    quantity: int


def allocate_waiting(session: Session, product_id: int, now: dt.datetime) -> list[Allocation]:
    """Give available stock to waiting lines of one product, oldest order first.

    A line may be filled partially. The product, then its waiting lines are locked (PostgreSQL;
    the lock order of ``store.locking``: a caller that already holds the product relocks it for
    free) so two receipts cannot fill the same line twice, nor a choice change a line being
    filled; records ``ready_to_ship`` or ``partially_allocated`` per line touched, and closes
    the open offers of lines that no longer wait.
    """
    lock_products(session, [product_id])
    waiting = session.scalars(
        select(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.product_id == product_id, OrderLine.status == LineStatus.BACKORDERED)
        .order_by(Order.placed_at, Order.id, OrderLine.id)
        .options(contains_eager(OrderLine.order))
        .with_for_update(of=OrderLine, key_share=True)
        .execution_options(populate_existing=True)
    )
    allocations: list[Allocation] = []
    for line in waiting:
        taken = take_stock(session, product_id, line.backordered_quantity)
        if taken == 0:
            break
        line.allocated_quantity += taken
        line.backordered_quantity -= taken
        allocations.append(Allocation(line, taken))
        if line.backordered_quantity == 0:
            line.status = LineStatus.ALLOCATED
            line.allocated_at = now
            supersede_open_offers(session, line, now)
            events.record(session, EventKind.READY_TO_SHIP, line, quantity=line.quantity)
        else:
            events.record(
                session,
                EventKind.PARTIALLY_ALLOCATED,
                line,
                allocated=line.allocated_quantity,
                backordered=line.backordered_quantity,
            )
    return allocations


def supersede_open_offers(session: Session, line: OrderLine, now: dt.datetime) -> None:
    for offer in session.scalars(
        select(Offer).where(Offer.line_id == line.id, Offer.status == OfferStatus.OPEN)
    ):
        offer.status = OfferStatus.SUPERSEDED
        offer.decided_at = now
