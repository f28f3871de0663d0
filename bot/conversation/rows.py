"""The common questions' data as Core rows: who wrote, and their orders for a status reply.

The lean path of ``Conversation.handle_common`` (status questions and help, most of what
customers send). Measured on the webhook benchmark, the ORM's part of a status reply was half its
CPU: mapping the customer, and the joined load of orders, lines, products and offers (row
processors, identity map, loader options). Here one prebuilt statement per question reads the
same columns, and plain objects with the ORM's attribute names carry them, so that
``bot.order_views.order_view`` and the templates read them exactly as they read ORM objects:
the same answer, byte for byte (``tests/bot/conversation/test_lean_path.py``). Nothing here
writes; anything else (choices, opt-outs, links) still goes through the ORM.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, select

from store.models import (
    Customer,
    LineStatus,
    Offer,
    OfferChoice,
    OfferStatus,
    Order,
    OrderLine,
    OrderStatus,
    Product,
)

__all__ = ["CustomerRow", "customer_by_chat", "customer_by_phone", "open_orders", "own_order"]


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """What a status reply, help and the hand-off check read of a customer."""

    id: int
    name: str
    locale: str
    timezone: str
    handed_off_at: dt.datetime | None


@dataclass(slots=True)
class ProductRow:
    sku: str
    name: str
    eta: dt.date | None
    currency: str
    price_cents: int


@dataclass(slots=True)
class OfferRow:
    id: int
    status: OfferStatus
    expires_at: dt.datetime
    discount_percent: int
    coupon_code: str | None
    choice: OfferChoice | None
    alternative: ProductRow | None
    line: LineRow


@dataclass(slots=True)
class LineRow:
    id: int
    quantity: int
    shipped_quantity: int
    status: LineStatus
    eta: dt.date | None
    currency: str | None
    unit_price_cents: int | None
    replaced_by_line_id: int | None
    product: ProductRow
    order: OrderRow
    offers: list[OfferRow] = field(default_factory=list)


@dataclass(slots=True)
class OrderRow:
    id: int
    number: str
    lines: list[LineRow] = field(default_factory=list)


def customer_by_phone(conn: Connection, phone: str) -> CustomerRow | None:
    row = conn.execute(_BY_PHONE, {"phone": phone}).first()
    return CustomerRow(*row) if row is not None else None


def customer_by_chat(conn: Connection, chat_id: int) -> CustomerRow | None:
    row = conn.execute(_BY_CHAT, {"chat_id": chat_id}).first()
    return CustomerRow(*row) if row is not None else None


def open_orders(conn: Connection, customer_id: int) -> list[Order]:
    """The customer's open orders, newest first, as ``Conversation._open_orders`` loads them."""
    return _orders(conn.execute(_OPEN_ORDERS, {"customer_id": customer_id}))


def own_order(conn: Connection, customer_id: int, number: str) -> Order | None:
    """The customer's order numbered ``number`` (upper-cased by the caller), else None."""
    found = _orders(conn.execute(_OWN_ORDER, {"customer_id": customer_id, "number": number}))
    return found[0] if found else None


def _orders(rows: Any) -> list[Order]:
    orders: dict[int, OrderRow] = {}
    lines: dict[int, LineRow] = {}
    for r in rows:
        order = orders.get(r.order_id)
        if order is None:
            order = orders[r.order_id] = OrderRow(r.order_id, r.number)
        if r.line_id is None:
            continue  # an order without lines: shown, as the ORM's outer join shows it
        line = lines.get(r.line_id)
        if line is None:
            product = ProductRow(r.sku, r.name, r.product_eta, r.currency, r.price_cents)
            line = lines[r.line_id] = LineRow(
                r.line_id,
                r.quantity,
                r.shipped_quantity,
                r.line_status,
                r.line_eta,
                r.line_currency,
                r.unit_price_cents,
                r.replaced_by_line_id,
                product,
                order,
            )
            order.lines.append(line)
        if r.offer_id is not None:
            alternative = None
            if r.alt_sku is not None:
                alternative = ProductRow(
                    r.alt_sku, r.alt_name, r.alt_eta, r.alt_currency, r.alt_price_cents
                )
            line.offers.append(
                OfferRow(
                    r.offer_id,
                    r.offer_status,
                    r.expires_at,
                    r.discount_percent,
                    r.coupon_code,
                    r.choice,
                    alternative,
                    line,
                )
            )
    # Shaped like the ORM's objects for every attribute the views read (see the docstring).
    return cast("list[Order]", list(orders.values()))


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


_C, _O, _L, _P, _F = (_table(m) for m in (Customer, Order, OrderLine, Product, Offer))
_A = _P.alias("alternative")
_CUSTOMER_COLUMNS = (_C.c.id, _C.c.name, _C.c.locale, _C.c.timezone, _C.c.handed_off_at)
# Built once (SQLAlchemy caches a statement's compiled form by its cache key, computed per call
# for a statement built per call).
_BY_PHONE = select(*_CUSTOMER_COLUMNS).where(_C.c.phone == bindparam("phone"))
_BY_CHAT = select(*_CUSTOMER_COLUMNS).where(_C.c.telegram_chat_id == bindparam("chat_id"))
_ORDER_ROWS = (
    select(
        _O.c.id.label("order_id"),
        _O.c.number,
        _L.c.id.label("line_id"),
        _L.c.quantity,
        _L.c.shipped_quantity,
        _L.c.status.label("line_status"),
        _L.c.eta.label("line_eta"),
        _L.c.currency.label("line_currency"),
        _L.c.unit_price_cents,
        _L.c.replaced_by_line_id,
        _P.c.sku,
        _P.c.name,
        _P.c.eta.label("product_eta"),
        _P.c.currency,
        _P.c.price_cents,
        _F.c.id.label("offer_id"),
        _F.c.status.label("offer_status"),
        _F.c.expires_at,
        _F.c.discount_percent,
        _F.c.coupon_code,
        _F.c.choice,
        _A.c.sku.label("alt_sku"),
        _A.c.name.label("alt_name"),
        _A.c.eta.label("alt_eta"),
        _A.c.currency.label("alt_currency"),
        _A.c.price_cents.label("alt_price_cents"),
    )
    .select_from(
        _O.outerjoin(_L, _L.c.order_id == _O.c.id)
        .outerjoin(_P, _P.c.id == _L.c.product_id)
        .outerjoin(_F, _F.c.line_id == _L.c.id)
        .outerjoin(_A, _A.c.id == _F.c.alternative_product_id)
    )
    .where(_O.c.customer_id == bindparam("customer_id"))
)
# The orders' order is Conversation's; lines and offers by id, as their relationships sort them.
_OPEN_ORDERS = _ORDER_ROWS.where(_O.c.status == OrderStatus.OPEN).order_by(
    _O.c.placed_at.desc(), _O.c.id.desc(), _L.c.id, _F.c.id
)
_OWN_ORDER = _ORDER_ROWS.where(func.upper(_O.c.number) == bindparam("number")).order_by(
    _O.c.id, _L.c.id, _F.c.id
)
