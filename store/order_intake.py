"""Placing orders that arrive in bulk (Shopify's ``orders/create``) in few, plain statements.

The same rules as ``store.orders.place_order``, which the API and the CLI use: idempotent on the
order number (same content: the existing order; other content: ``Conflict``), every product
locked at once in id order (``store.locking``), stock taken by a conditional UPDATE that can
never oversell, the rest backordered with the supplier's date, an open offer and a
``backordered`` event. What differs is the cost: ``place_order`` builds ORM objects and flushes
them one unit of work at a time (about 22 statements and 11 ms of CPU per one-line order,
profiled with ``bench/bench_shopify.py``); this writes Core rows (one statement per table) and
hands back ids, for callers that need no ORM order afterwards.

``place_order_rows`` expects the products from ``lock_products_by_sku`` in the same
transaction: their stock was read under the row lock (PostgreSQL) or the write lock (SQLite,
``BEGIN IMMEDIATE``), so the units taken here are the units there are; the UPDATE's
``stock_on_hand >= take`` guard and the CHECK constraint still stand behind it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from store import events
from store.customers import CustomerData, upsert_customer
from store.errors import Conflict
from store.models import (
    Channel,
    Customer,
    EventKind,
    LineStatus,
    Offer,
    OfferStatus,
    Order,
    OrderLine,
    Product,
    ProductAlternative,
)
from store.offers import discount_for, find_alternative
from store.orders import LineRequest, content_digest, merge_lines
from store.policy import Policy

__all__ = [
    "LockedProduct",
    "PlacedIds",
    "ensure_customer",
    "expire_stock",
    "line_values",
    "load_products",
    "lock_products_by_sku",
    "offer_and_event",
    "place_order_rows",
    "take_stock",
]

_PRODUCTS = cast(Table, Product.__table__)
_CUSTOMERS = cast(Table, Customer.__table__)
_ORDERS = cast(Table, Order.__table__)
_LINES = cast(Table, OrderLine.__table__)
_OFFERS = cast(Table, Offer.__table__)

# Built once: their compiled forms are cached on the statement object itself.
_LOCK_BY_SKU = (
    select(
        _PRODUCTS.c.id,
        _PRODUCTS.c.sku,
        _PRODUCTS.c.currency,
        _PRODUCTS.c.price_cents,
        _PRODUCTS.c.stock_on_hand,
        _PRODUCTS.c.eta,
    )
    .where(_PRODUCTS.c.sku.in_(bindparam("skus", expanding=True)))
    .order_by(_PRODUCTS.c.id)
    .with_for_update(key_share=True)
)
_CUSTOMER_BY_PHONE_OR_REF = select(
    _CUSTOMERS.c.id, _CUSTOMERS.c.phone, _CUSTOMERS.c.external_ref
).where(
    or_(_CUSTOMERS.c.phone == bindparam("phone"), _CUSTOMERS.c.external_ref == bindparam("ref"))
)
_ORDER_BY_NUMBER = select(_ORDERS.c.id, _ORDERS.c.content_digest).where(
    _ORDERS.c.number == bindparam("number")
)
# Parameters come with each execution (a dict, or a list of them: one executemany), so the
# statement and its compiled form are the same object every time, with no ``.values()`` to
# build and no cache key to compute per order.
_INSERT_ORDER = {
    "postgresql": postgresql.insert(_ORDERS)
    .on_conflict_do_nothing(index_elements=["number"])
    .returning(_ORDERS.c.id),
    "sqlite": sqlite.insert(_ORDERS)
    .on_conflict_do_nothing(index_elements=["number"])
    .returning(_ORDERS.c.id),
}
_INSERT_LINES = insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True)
_INSERT_OFFER = insert(_OFFERS).returning(_OFFERS.c.id)
_INSERT_CUSTOMER = {
    "postgresql": postgresql.insert(_CUSTOMERS).on_conflict_do_nothing().returning(_CUSTOMERS.c.id),
    "sqlite": sqlite.insert(_CUSTOMERS).on_conflict_do_nothing().returning(_CUSTOMERS.c.id),
}
_TAKE = (
    update(_PRODUCTS)
    .where(_PRODUCTS.c.id == bindparam("pid"), _PRODUCTS.c.stock_on_hand >= bindparam("take"))
    .values(stock_on_hand=_PRODUCTS.c.stock_on_hand - bindparam("take"))
)


@dataclass(frozen=True, slots=True)
class PlacedIds:
    order_id: int
    created: bool  # False when the same order had already been placed (an idempotent repeat)


@dataclass(frozen=True, slots=True)
class LockedProduct:
    """What placing an order reads of a product, read under its row lock."""

    id: int
    sku: str
    currency: str
    price_cents: int
    stock_on_hand: int
    eta: dt.date | None


def lock_products_by_sku(session: Session, skus: Sequence[str]) -> dict[str, LockedProduct]:
    """The products of these SKUs, locked in id order (``store.locking``) and read under the
    lock; unknown SKUs are simply absent."""
    rows = session.execute(_LOCK_BY_SKU, {"skus": sorted(set(skus))})
    return {row.sku: LockedProduct(*row) for row in rows}


def load_products(session: Session, skus: Sequence[str]) -> list[Product]:
    """These products as ORM objects with their explicit alternatives: what a backordered
    line's offer reads (``store.offers``), loaded in two statements for many orders at once."""
    statement = (
        select(Product)
        .where(Product.sku.in_(skus))
        .options(selectinload(Product.alternatives).joinedload(ProductAlternative.alternative))
    )
    return list(session.scalars(statement))


def ensure_customer(
    session: Session,
    phone: str,
    external_ref: str | None,
    data: Callable[[], CustomerData],
    *,
    default_locale: str,
    default_timezone: str,
) -> int:
    """The id of the customer with this ``phone`` (kept as the shop has them), else of the one
    with ``external_ref`` (updated from ``data()``, as ``upsert_customer`` does), else of a new
    one made from ``data()``. ``data`` is only called when the phone is not known (a returning
    customer's order is not refused for what the new copy of their details says).

    A new customer is one ``INSERT ... ON CONFLICT DO NOTHING``: when a concurrent order inserted
    the same phone first (PostgreSQL makes the insert wait for it to commit), it is read back
    instead of failing the transaction.
    """
    params = {"phone": phone, "ref": external_ref}
    for _attempt in range(2):
        found = session.execute(_CUSTOMER_BY_PHONE_OR_REF, params).all()
        by_phone = [row.id for row in found if row.phone == phone]
        if by_phone:
            return int(by_phone[0])
        details = data()
        if found:  # the customer's phone changed in the shop: the rare path, through the ORM
            customer = upsert_customer(
                session, details, default_locale=default_locale, default_timezone=default_timezone
            )
            session.flush()
            return customer.id
        new = {
            "name": details.name,
            "phone": phone,
            "email": details.email,
            "locale": details.locale or default_locale,
            "timezone": details.timezone or default_timezone,
            "preferred_channel": details.preferred_channel or Channel.SMS,
            "external_ref": external_ref,
        }
        inserted = session.execute(_insert_customer(session), new).scalar()
        if inserted is not None:
            return int(inserted)
    raise Conflict(f"customer {external_ref or phone} is being changed elsewhere; retry")


def place_order_rows(
    session: Session,
    *,
    number: str,
    customer_id: int,
    customer_key: str,
    products: Mapping[str, LockedProduct],
    lines: Sequence[LineRequest],
    placed_at: dt.datetime,
    policy: Policy,
    now: dt.datetime,
) -> PlacedIds:
    """Place an order (see the module docstring); ``products`` covers every line's SKU."""
    merged = merge_lines(lines)
    digest = content_digest(customer_key, merged, placed_at)
    order = {
        "number": number,
        "customer_id": customer_id,
        "placed_at": placed_at,
        "content_digest": digest,
    }
    # Inserted first: a new order (nearly all of them) costs one statement, not a look-up too.
    order_id = session.execute(_insert_order(session), order).scalar()
    if order_id is None:
        existing = session.execute(_ORDER_BY_NUMBER, {"number": number}).one()
        if existing.content_digest != digest:
            raise Conflict(f"order {number} already exists with different content")
        return PlacedIds(existing.id, created=False)
    rows = [
        _line_row(session, order_id, products[sku], wanted, now) for sku, wanted in merged.items()
    ]
    line_ids = session.scalars(_INSERT_LINES, rows).all()
    for line_id, row in zip(line_ids, rows, strict=True):
        if row["backordered_quantity"]:
            offer_and_event(session, line_id, customer_id, order_id, row, policy, now)
    return PlacedIds(order_id, created=True)


def _line_row(
    session: Session, order_id: int, product: LockedProduct, wanted: int, now: dt.datetime
) -> dict[str, Any]:
    """Take what stock there is (read under the lock) and describe the line that results."""
    taken = min(max(product.stock_on_hand, 0), wanted)
    if taken:
        take_stock(session, product, taken)
    return line_values(order_id, product, wanted, taken, now)


def take_stock(session: Session, product: LockedProduct, units: int) -> None:
    """Take ``units`` of the locked product's free stock by the guarded ``UPDATE`` (also for
    ``store.order_bulk``, a batch's total at once): it can never oversell."""
    done = session.execute(_TAKE, {"pid": product.id, "take": units})
    if done.rowcount != 1:  # type: ignore[attr-defined]
        # Cannot happen under the lock; refuse to guess rather than oversell.
        raise Conflict(f"stock of {product.sku} changed while placing; retry")
    expire_stock(session, product.id)


def line_values(
    order_id: int, product: LockedProduct, wanted: int, taken: int, now: dt.datetime
) -> dict[str, Any]:
    """The line for ``wanted`` units of which ``taken`` were in stock (``store.order_bulk`` too)."""
    waiting = wanted - taken
    return {
        "order_id": order_id,
        "product_id": product.id,
        "quantity": wanted,
        "allocated_quantity": taken,
        "backordered_quantity": waiting,
        "status": LineStatus.BACKORDERED if waiting else LineStatus.ALLOCATED,
        "unit_price_cents": product.price_cents,
        "currency": product.currency,
        "eta": product.eta if waiting else None,
        "first_eta": product.eta if waiting else None,
        "backordered_at": now if waiting else None,
        "allocated_at": None if waiting else now,
    }


def offer_and_event(
    session: Session,
    line_id: int,
    customer_id: int,
    order_id: int,
    row: dict[str, Any],
    policy: Policy,
    now: dt.datetime,
) -> None:
    """A new line has no offer to supersede: open its first one and record the event."""
    product = session.get_one(Product, row["product_id"])
    alternative = find_alternative(session, product, row["quantity"], policy)
    offer = {
        "line_id": line_id,
        "customer_id": customer_id,
        "status": OfferStatus.OPEN,
        "discount_percent": discount_for(session, product, policy),
        "alternative_product_id": alternative.id if alternative is not None else None,
        "expires_at": now + policy.offer_ttl,
        "default_choice": policy.offer_default_choice,
    }
    offer_id = session.execute(_INSERT_OFFER, offer).scalar_one()
    events.insert_one(
        session,
        EventKind.BACKORDERED,
        customer_id=customer_id,
        order_id=order_id,
        line_id=line_id,
        product_id=row["product_id"],
        offer_id=offer_id,
        payload=events.payload_of(backordered=row["backordered_quantity"], eta=row["eta"]),
    )


def _insert_order(session: Session) -> Any:
    return _INSERT_ORDER[session.get_bind().dialect.name]


def _insert_customer(session: Session) -> Any:
    return _INSERT_CUSTOMER[session.get_bind().dialect.name]


def expire_stock(session: Session, product_id: int) -> None:
    """The UPDATE bypassed the ORM: a loaded Product must re-read its stock on next access."""
    product = session.identity_map.get(session.identity_key(Product, product_id))
    if product is not None:
        session.expire(product, ["stock_on_hand"])
