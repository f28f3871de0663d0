"""Placing an order: reserve what is in stock, backorder the rest, offer choices at once."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import events
from store.allocation import take_stock
from store.errors import Conflict, InvalidInput, NotFound
from store.locking import lock_products
from store.models import Customer, EventKind, LineStatus, Order, OrderLine, Product
from store.offers import make_offer
from store.policy import Policy


@dataclass(frozen=True, slots=True)
class LineRequest:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    order: Order
    created: bool  # False when the same order had already been placed (an idempotent repeat)


def place_order(
    session: Session,
    *,
    number: str,
    customer: Customer,
    lines: Sequence[LineRequest],
    placed_at: dt.datetime | None,
    policy: Policy,
    now: dt.datetime,
) -> PlacedOrder:
    """Place an order, idempotently on its number.

    The same number with the same content returns the existing order; with other content it is a
    ``Conflict``. Without ``placed_at`` the order is placed ``now`` (and a repeat still matches).
    Each line takes what stock there is with one conditional update; the rest is
    backordered with the supplier's current date, a ``backordered`` event and an open offer.
    """
    merged = merge_lines(lines)
    digest = content_digest(
        customer.phone or customer.external_ref or customer.id, merged, placed_at
    )
    existing = session.scalars(select(Order).where(Order.number == number)).first()
    if existing is not None:
        if existing.content_digest != digest:
            raise Conflict(f"order {number} already exists with different content")
        return PlacedOrder(existing, created=False)

    products = _products_by_sku(session, list(merged))
    # All of the order's products at once, in id order (``store.locking``): two orders for
    # the same two SKUs listed in opposite orders would otherwise deadlock.
    lock_products(session, [p.id for p in products.values()])
    order = Order(
        number=number, customer=customer, placed_at=placed_at or now, content_digest=digest
    )
    session.add(order)
    for sku, quantity in merged.items():
        product = products[sku]
        taken = take_stock(session, product.id, quantity)
        line = OrderLine(
            order=order,
            product=product,
            quantity=quantity,
            allocated_quantity=taken,
            backordered_quantity=quantity - taken,
            status=LineStatus.ALLOCATED if taken == quantity else LineStatus.BACKORDERED,
            # What the customer paid per unit: a later cancellation refunds this, not today's price.
            unit_price_cents=product.price_cents,
            currency=product.currency,
        )
        if taken < quantity:
            line.eta = line.first_eta = product.eta
            line.backordered_at = now
        else:
            line.allocated_at = now
        session.add(line)
    session.flush()
    for line in order.lines:
        if line.status == LineStatus.BACKORDERED:
            offer = make_offer(session, line, policy, now)
            events.record(
                session,
                EventKind.BACKORDERED,
                line,
                offer=offer,
                backordered=line.backordered_quantity,
                eta=line.eta,
            )
    return PlacedOrder(order, created=True)


def merge_lines(lines: Sequence[LineRequest]) -> dict[str, int]:
    """Quantities per SKU, several lines of one SKU added up; refuses empty and non-positive."""
    if not lines:
        raise InvalidInput("an order needs at least one line")
    merged: dict[str, int] = {}
    for line in lines:
        if line.quantity <= 0:
            raise InvalidInput(f"quantity for {line.sku} must be a positive whole number")
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    return merged


def _products_by_sku(session: Session, skus: list[str]) -> dict[str, Product]:
    found = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(skus)))}
    missing = sorted(set(skus) - set(found))
    if missing:
        raise NotFound(f"unknown sku: {', '.join(missing)}")
    return found


def content_digest(
    customer_key: str | int | None, lines: dict[str, int], placed_at: dt.datetime | None
) -> str:
    """What tells a repeated order from a conflicting one: the customer (phone, else external
    reference, else id), the quantities per SKU and the time it was placed."""
    content = {
        "customer": customer_key,
        "lines": sorted(lines.items()),
        "placed_at": placed_at.astimezone(dt.UTC).isoformat(timespec="seconds")
        if placed_at
        else None,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def find_order(session: Session, number: str) -> Order:
    order = session.scalars(select(Order).where(Order.number == number)).first()
    if order is None:
        raise NotFound(f"order {number} does not exist")
    return order
