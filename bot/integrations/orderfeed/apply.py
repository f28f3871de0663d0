"""What each feed event does to the store, inside the caller's transaction and savepoint.

Each function applies its whole event or raises (``Refused``, or a store error the caller turns
into one), so a refusal leaves nothing behind. Orders go through ``place_order`` exactly as
``POST /api/orders`` does (a customer found by phone keeps their stored record; a line without
stock is a backorder with an offer); cancellations through ``cancel_line`` (the refund
recorded); shipments through ``ship`` (keyed on the event, so a repeat ships nothing more);
stock counts through ``set_shop_count`` (waiting lines allocated oldest first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.integrations.orderfeed.shape import (
    Cancellation,
    Event,
    FeedCustomer,
    OrderPlaced,
    Shipment,
    StockCount,
)
from store.allocation import RESERVING_STATUSES, set_shop_count, supersede_open_offers
from store.customers import (
    CustomerData,
    check_timezone,
    find_by_phone,
    normalize_locale,
    normalize_phone,
    upsert_customer,
)
from store.locking import lock_lines, lock_products
from store.models import Customer, Order, OrderLine, Product
from store.offers import cancel_line
from store.orders import LineRequest, find_order, place_order
from store.policy import Policy
from store.shipments import ship_fulfilment

__all__ = ["HANDLERS", "Config", "Refused", "lock", "resource_of"]

CANCEL_REASON = "order_feed"


class Refused(Exception):
    """The event cannot be applied as sent; the message says why, for the sender."""


@dataclass(frozen=True, slots=True)
class Config:
    policy: Policy
    default_locale: str = "en"
    default_timezone: str = "UTC"
    phone_region: str | None = None


def resource_of(event: Event) -> str:
    """What the event is about, for the out-of-order check: an order or a SKU's count."""
    if isinstance(event, OrderPlaced):
        return f"order:{event.order.number}"
    if isinstance(event, Cancellation | Shipment):
        return f"order:{event.order_number}"
    return f"stock:{event.sku}"


def lock(session: Session, event: Event) -> None:
    """Lock the products the event touches before it is compared with what we hold, so two
    events about the same order or SKU at once are compared and applied one after the other.
    Products only, in id order: the lock order of ``store.locking``, which every writer of
    stock, lines and offers follows (an order row lock would block their line inserts)."""
    if isinstance(event, StockCount):
        product_id = session.scalar(select(Product.id).where(Product.sku == event.sku))
        if product_id is None:
            raise Refused(f"unknown SKU: {event.sku}")
        lock_products(session, [product_id])
        return
    if isinstance(event, OrderPlaced):
        skus = {line.sku for line in event.order.lines}
        ids = session.scalars(select(Product.id).where(Product.sku.in_(skus))).all()
    else:
        ids = session.scalars(
            select(OrderLine.product_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.number == event.order_number)
        ).all()
    lock_products(session, ids)


def order_placed(session: Session, event: Any, config: Config, now: dt.datetime) -> str | None:
    assert isinstance(event, OrderPlaced)
    order = event.order
    skus = {line.sku for line in order.lines}
    products = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(skus)))}
    missing = sorted(skus - set(products))
    if missing:
        raise Refused(f"unknown SKU: {', '.join(missing)[:400]}")
    currency = order.currency.upper()
    for sku in sorted(products):
        if products[sku].currency != currency:
            raise Refused(f"order in {currency}; {sku} is sold here in {products[sku].currency}")
    placed = place_order(
        session,
        number=order.number,
        customer=_customer(session, order.customer, config),
        lines=[LineRequest(line.sku, line.quantity) for line in order.lines],
        placed_at=order.placed_at,
        policy=config.policy,
        now=now,
    )
    session.flush()
    return None if placed.created else "the same order was already placed"


def _customer(session: Session, given: FeedCustomer, config: Config) -> Customer:
    if not given.phone or not given.phone.strip():
        raise Refused("the customer has no phone number: we could not tell them anything")
    data = CustomerData(
        name=given.name,
        phone=normalize_phone(given.phone, config.phone_region),
        email=given.email,
        locale=normalize_locale(given.locale or "", config.default_locale),
        timezone=check_timezone(given.timezone or "", config.default_timezone),
    )
    assert data.phone is not None
    found = find_by_phone(session, data.phone)
    if found is not None:
        return found  # the shop's record here wins over the feed's copy, as in the API
    customer = upsert_customer(session, data)
    session.flush()
    return customer


def cancelled(session: Session, event: Any, config: Config, now: dt.datetime) -> str | None:
    assert isinstance(event, Cancellation)
    order = find_order(session, event.order_number)
    held = {line.product.sku for line in order.lines}
    if event.skus is not None and set(event.skus) - held:
        raise Refused(f"order {order.number} has no line of {sorted(set(event.skus) - held)[0]}")
    skus = held if event.skus is None else set(event.skus)
    wanted = [
        line
        for line in order.lines
        if line.status in RESERVING_STATUSES and line.product.sku in skus
    ]
    if not wanted:
        return "nothing of it was left to cancel"
    # The lock order of ``store.locking``: the products, then the lines, re-read once locked.
    lock_products(session, [line.product_id for line in wanted])
    for line in lock_lines(session, [line.id for line in wanted]):
        if line.status in RESERVING_STATUSES:
            supersede_open_offers(session, line, now)
            cancel_line(session, line, now, reason=CANCEL_REASON)
    return None


def shipped(session: Session, event: Any, config: Config, now: dt.datetime) -> str | None:
    assert isinstance(event, Shipment)
    units: dict[str, int] | None = None
    if event.lines is not None:
        units = {}
        for line in event.lines:
            units[line.sku] = units.get(line.sku, 0) + line.quantity
    ship_fulfilment(
        session,
        event.order_number,
        units,
        f"feed:{event.id}",
        carrier=event.carrier,
        tracking=event.tracking,
        tracking_url=event.tracking_url,
        now=now,
    )
    return None


def counted(session: Session, event: Any, config: Config, now: dt.datetime) -> str | None:
    assert isinstance(event, StockCount)
    product = session.scalars(select(Product).where(Product.sku == event.sku)).one()
    session.refresh(product)  # read fresh under the lock ``lock`` took
    set_shop_count(session, product, event.count, now)
    return None


Handler = Callable[[Session, Any, Config, dt.datetime], str | None]
HANDLERS: dict[type, Handler] = {
    OrderPlaced: order_placed,
    Cancellation: cancelled,
    Shipment: shipped,
    StockCount: counted,
}
