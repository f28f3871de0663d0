"""``store.order_intake`` places an order exactly as ``place_order`` does, in fewer statements.

Each test places the same order both ways (two order numbers, two identical sets of products)
and compares what was written: lines, offers, events, stock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.customers import CustomerData
from store.errors import Conflict
from store.models import Customer, DomainEvent, Offer, Order, OrderLine, Product
from store.order_intake import ensure_customer, lock_products_by_sku, place_order_rows
from store.orders import LineRequest, content_digest, place_order
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW

PLACED = NOW - dt.timedelta(hours=1)


def catalog(session: Session, prefix: str) -> None:
    """A short SKU with an explicit alternative and its own discount, one out of stock with an
    alternative found in its category, one in stock."""
    f.product(session, f"{prefix}-ALT", stock=10, category=f"{prefix}-cups")
    f.product(session, f"{prefix}-CUP", stock=0, category=f"{prefix}-cups", eta=dt.date(2027, 1, 5))
    f.product(
        session,
        f"{prefix}-MUG",
        stock=2,
        alternatives=(f"{prefix}-ALT",),
        eta=dt.date(2027, 2, 1),
        discount_percent=20,
    )
    f.product(session, f"{prefix}-PEN", stock=9, discount_percent=15)


def lines_for(prefix: str) -> list[LineRequest]:
    return [
        LineRequest(f"{prefix}-MUG", 3),
        LineRequest(f"{prefix}-CUP", 1),
        LineRequest(f"{prefix}-PEN", 2),
        LineRequest(f"{prefix}-MUG", 1),  # merged with the first
    ]


def by_rows(session: Session, number: str, customer: Customer, prefix: str) -> int:
    products = lock_products_by_sku(session, [line.sku for line in lines_for(prefix)])
    placed = place_order_rows(
        session,
        number=number,
        customer_id=customer.id,
        customer_key=customer.phone or "",
        products=products,
        lines=lines_for(prefix),
        placed_at=PLACED,
        policy=DEFAULT_POLICY,
        now=NOW,
    )
    assert placed.created
    return placed.order_id


def written(session: Session, order_id: int, prefix: str) -> dict[str, Any]:
    """What the order wrote, with its SKUs' prefix taken off so two orders compare."""
    session.expire_all()
    order = session.get_one(Order, order_id)

    def sku(product_id: int | None) -> str | None:
        if product_id is None:
            return None
        return session.get_one(Product, product_id).sku.removeprefix(prefix)

    lines = {}
    for line in order.lines:
        offers = [
            (o.status, o.discount_percent, sku(o.alternative_product_id), o.expires_at,
             o.default_choice, o.customer_id)
            for o in session.scalars(select(Offer).where(Offer.line_id == line.id))
        ]  # fmt: skip
        events = [
            (e.kind, e.customer_id, e.product_id == line.product_id, e.offer_id is not None,
             e.payload)
            for e in session.scalars(select(DomainEvent).where(DomainEvent.line_id == line.id))
        ]  # fmt: skip
        lines[sku(line.product_id)] = {
            "columns": (
                line.quantity,
                line.allocated_quantity,
                line.backordered_quantity,
                line.status,
                line.eta,
                line.first_eta,
                line.unit_price_cents,
                line.currency,
                line.backordered_at,
                line.allocated_at,
                line.shipped_quantity,
            ),
            "offers": offers,
            "events": events,
        }
    stock = {
        p.sku.removeprefix(prefix): p.stock_on_hand
        for p in session.scalars(select(Product).where(Product.sku.startswith(prefix)))
    }
    return {
        "order": (order.customer_id, order.placed_at, order.status),
        "lines": lines,
        "stock": stock,
    }


def test_an_order_placed_from_rows_writes_what_place_order_writes(session: Session) -> None:
    catalog(session, "A")
    catalog(session, "B")
    who = f.customer(session)
    orm = place_order(
        session,
        number="A1",
        customer=who,
        lines=lines_for("A"),
        placed_at=PLACED,
        policy=DEFAULT_POLICY,
        now=NOW,
    )
    session.flush()
    rows = by_rows(session, "B1", who, "B")
    assert written(session, rows, "B") == written(session, orm.order.id, "A")
    assert len(written(session, rows, "B")["lines"]) == 3
    # The same digest for the same content: a repeat through either path is recognised.
    merged = {"B-MUG": 4, "B-CUP": 1, "B-PEN": 2}
    digest = session.get_one(Order, rows).content_digest
    assert digest == content_digest(who.phone, merged, PLACED)


def test_the_same_order_again_is_the_same_order_and_other_content_a_conflict(
    session: Session,
) -> None:
    catalog(session, "A")
    who = f.customer(session)
    first = by_rows(session, "A1", who, "A")
    products = lock_products_by_sku(session, ["A-PEN", "A-MUG", "A-CUP"])
    again = dict(
        number="A1", customer_id=who.id, customer_key=who.phone or "", products=products,
        placed_at=PLACED, policy=DEFAULT_POLICY, now=NOW,
    )  # fmt: skip
    repeat = place_order_rows(session, lines=lines_for("A"), **again)  # type: ignore[arg-type]
    assert (repeat.order_id, repeat.created) == (first, False)
    with pytest.raises(Conflict):
        place_order_rows(session, lines=[LineRequest("A-PEN", 1)], **again)  # type: ignore[arg-type]
    assert len(session.scalars(select(OrderLine)).all()) == 3  # nothing taken twice


def test_ensure_customer_keeps_a_known_phone_and_creates_a_new_one_once(
    session: Session,
) -> None:
    known = f.customer(session, name="Known", phone="+14155550177")
    calls: list[int] = []

    def data(name: str, phone: str, ref: str | None = None) -> Any:
        def build() -> CustomerData:
            calls.append(1)
            return CustomerData(name=name, phone=phone, locale="es", external_ref=ref)

        return build

    kept = ensure_customer(
        session, "+14155550177", "shopify:1", data("Renamed", "+14155550177", "shopify:1"),
        default_locale="en", default_timezone="UTC",
    )  # fmt: skip
    assert kept == known.id  # the shop's record wins
    assert calls == []  # and the order's copy of the details is not even read
    new = ensure_customer(
        session, "+14155550178", "shopify:2", data("New", "+14155550178", "shopify:2"),
        default_locale="en", default_timezone="America/New_York",
    )  # fmt: skip
    again = ensure_customer(
        session, "+14155550178", "shopify:2", data("New", "+14155550178", "shopify:2"),
        default_locale="en", default_timezone="UTC",
    )  # fmt: skip
    assert new == again
    assert calls == [1]
    created = session.get_one(Customer, new)
    session.refresh(created)
    assert (created.name, created.locale, created.timezone, created.external_ref) == (
        "New", "es", "America/New_York", "shopify:2",
    )  # fmt: skip
    moved = ensure_customer(
        session, "+14155550179", "shopify:2", data("New", "+14155550179", "shopify:2"),
        default_locale="en", default_timezone="UTC",
    )  # fmt: skip
    session.refresh(created)
    assert moved == new  # found by its reference
    assert created.phone == "+14155550179"  # and its phone updated
