"""Placing many orders in one go (a CSV import's chunk): a few statements per batch, not per order.

The rules are ``store.orders.place_order``'s, order after order in the order given: idempotent
on the number (the same content is the existing order, other content a ``Conflict``), every
product of the batch locked at once in id order (``store.locking``), each line taking what
stock is left after the orders before it, the rest backordered with the supplier's date, an
open offer and a ``backordered`` event. What differs is the cost. ``place_order`` runs about
22 ORM statements per one-line order (10 ms of CPU, 8 rows a second once the importer's pauses
are added on a busy machine); here a batch costs one look-up of its numbers, one lock of its
products, one ``executemany`` each for the orders and the lines and one stock ``UPDATE`` per
product. Backordered lines still get their offer one by one (``store.order_intake``): choosing
an alternative reads the catalogue.

``tests/store/test_order_bulk.py`` holds it to ``place_order`` row for row.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from store.errors import Conflict, NotFound, StoreError
from store.models import Order, OrderLine, Product
from store.order_intake import (
    LockedProduct,
    line_values,
    lock_products_by_sku,
    offer_and_event,
    take_stock,
)
from store.orders import LineRequest, content_digest, merge_lines
from store.policy import Policy

__all__ = ["BulkOrder", "OrderRefused", "place_orders"]

_ORDERS = cast(Table, Order.__table__)
_LINES = cast(Table, OrderLine.__table__)
_PRODUCTS = cast(Table, Product.__table__)

_EXISTING = select(_ORDERS.c.number, _ORDERS.c.content_digest).where(
    _ORDERS.c.number.in_(bindparam("numbers", expanding=True))
)
_INSERT_ORDERS = insert(_ORDERS).returning(_ORDERS.c.id, sort_by_parameter_order=True)
_INSERT_LINES = insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True, slots=True)
class BulkOrder:
    """One order to place: what ``place_order`` is given, with the customer as plain values."""

    number: str
    customer_id: int
    customer_key: str  # what the digest names the customer by (``place_order``: the phone)
    lines: Sequence[LineRequest]
    placed_at: dt.datetime | None  # None: placed ``now``, and digested as None, like place_order


class OrderRefused(StoreError):
    """The store refused ``orders[position]``; the caller's transaction must roll back."""

    def __init__(self, position: int, reason: StoreError) -> None:
        super().__init__(str(reason))
        self.position = position


def place_orders(
    session: Session, orders: Sequence[BulkOrder], policy: Policy, now: dt.datetime
) -> list[bool]:
    """Place ``orders`` in their order; for each, whether it was created (False: a repeat)."""
    merged, digests = _contents(orders)
    existing = _existing_digests(session, [o.number for o in orders])
    created = []
    for position, order in enumerate(orders):
        known = existing.get(order.number)
        if known is not None and known != digests[position]:
            refused = Conflict(f"order {order.number} already exists with different content")
            raise OrderRefused(position, refused)
        created.append(known is None)
        existing.setdefault(order.number, digests[position])  # the same number twice in a batch
    new = [position for position, fresh in enumerate(created) if fresh]
    if new:
        skus = {sku for position in new for sku in merged[position]}
        products = lock_products_by_sku(session, sorted(skus))
        _refuse_unknown_skus(new, merged, products)
        _write(session, [(orders[p], merged[p], digests[p]) for p in new], products, policy, now)
    return created


def _contents(orders: Sequence[BulkOrder]) -> tuple[list[dict[str, int]], list[str]]:
    merged: list[dict[str, int]] = []
    for position, order in enumerate(orders):
        try:
            merged.append(merge_lines(order.lines))
        except StoreError as exc:
            raise OrderRefused(position, exc) from None
    digests = [
        content_digest(order.customer_key, lines, order.placed_at)
        for order, lines in zip(orders, merged, strict=True)
    ]
    return merged, digests


def _existing_digests(session: Session, numbers: list[str]) -> dict[str, str]:
    rows = session.execute(_EXISTING, {"numbers": sorted(set(numbers))})
    return {number: digest for number, digest in rows}


def _refuse_unknown_skus(
    new: list[int], merged: list[dict[str, int]], products: Mapping[str, LockedProduct]
) -> None:
    for position in new:
        missing = sorted(set(merged[position]) - set(products))
        if missing:
            raise OrderRefused(position, NotFound(f"unknown sku: {', '.join(missing)}"))


def _write(
    session: Session,
    new: list[tuple[BulkOrder, dict[str, int], str]],
    products: Mapping[str, LockedProduct],
    policy: Policy,
    now: dt.datetime,
) -> None:
    order_rows = [
        {
            "number": order.number,
            "customer_id": order.customer_id,
            "placed_at": order.placed_at or now,
            "content_digest": digest,
        }
        for order, _, digest in new
    ]
    order_ids = session.scalars(_INSERT_ORDERS, order_rows).all()
    left = {sku: max(product.stock_on_hand, 0) for sku, product in products.items()}
    taken: Counter[str] = Counter()
    line_rows = []
    for order_id, (_, lines, _) in zip(order_ids, new, strict=True):
        for sku, wanted in lines.items():
            take = min(left[sku], wanted)
            left[sku] -= take
            taken[sku] += take
            line_rows.append(line_values(order_id, products[sku], wanted, take, now))
    _take_stock(session, products, taken)
    line_ids = session.scalars(_INSERT_LINES, line_rows).all()
    for line_id, row, customer_id in zip(line_ids, line_rows, _customers(new), strict=True):
        if row["backordered_quantity"]:
            offer_and_event(session, line_id, customer_id, row["order_id"], row, policy, now)


def _customers(new: list[tuple[BulkOrder, dict[str, int], str]]) -> list[int]:
    """Each line's customer, in the order the lines were built."""
    return [order.customer_id for order, lines, _ in new for _ in lines]


def _take_stock(
    session: Session, products: Mapping[str, LockedProduct], taken: Mapping[str, int]
) -> None:
    for sku, units in taken.items():
        if not units:
            continue
        take_stock(session, products[sku], units)
