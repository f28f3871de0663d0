"""Small builders for test data, through the store's public operations."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.orm import Session

from store.catalog import ProductData, upsert_product
from store.customers import CustomerData, upsert_customer
from store.models import Customer, Order, Product
from store.orders import LineRequest, place_order
from store.policy import DEFAULT_POLICY, Policy

NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
_phones = itertools.count(1)


def product(
    session: Session,
    sku: str,
    *,
    stock: int = 0,
    price_cents: int = 10_000,
    category: str = "kitchen",
    eta: dt.date | None = None,
    alternatives: tuple[str, ...] = (),
    discount_percent: int | None = None,
    supplier: str | None = "Acme Supply",
) -> Product:
    p = upsert_product(
        session,
        ProductData(
            sku=sku,
            name=f"Product {sku}",
            price_cents=price_cents,
            category=category,
            stock_on_hand=stock,
            supplier=supplier,
            alternatives=alternatives,
            discount_percent=discount_percent,
        ),
        NOW,
    )
    p.eta = eta
    session.flush()
    return p


def customer(session: Session, name: str = "Ada Lovelace", phone: str | None = None) -> Customer:
    number = phone or f"+1415555{next(_phones):04d}"
    c = upsert_customer(session, CustomerData(name=name, phone=number))
    session.flush()
    return c


def order(
    session: Session,
    number: str,
    lines: list[tuple[str, int]],
    *,
    who: Customer | None = None,
    placed_at: dt.datetime = NOW,
    policy: Policy = DEFAULT_POLICY,
    now: dt.datetime | None = None,
) -> Order:
    placed = place_order(
        session,
        number=number,
        customer=who or customer(session),
        lines=[LineRequest(sku, qty) for sku, qty in lines],
        placed_at=placed_at,
        policy=policy,
        now=now or placed_at,
    )
    session.flush()
    return placed.order
