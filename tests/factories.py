"""Small builders for test data, through the store's public operations."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from store.catalog import ProductData, upsert_product
from store.customers import CustomerData, upsert_customer
from store.models import Customer, LineStatus, Order, OrderLine, Product
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
    currency: str = "USD",
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
            currency=currency,
        ),
        NOW,
    )
    p.eta = eta
    session.flush()
    return p


def customer(session: Session, name: str = "Ada Lovelace", phone: str | None = None) -> Customer:
    # Generated numbers come from an exchange no test writes by hand (they use 415-555-xxxx):
    # after enough tests a shared counter would reach a hand-picked number, and the upsert
    # would then rename that test's customer.
    number = phone or f"+1415556{next(_phones) % 10_000:04d}"
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


def waiting_customers(
    session: Session, product: Product, people: list[dict[str, Any]], prefix: str, now: dt.datetime
) -> list[int]:
    """Many customers at once (rows as dicts), each with one order of one ``product`` waiting
    on backorder; bulk inserts, for the load and chaos tests. Returns the customer ids."""
    ids = list(
        session.scalars(
            insert(Customer).returning(Customer.id, sort_by_parameter_order=True), people
        ).all()
    )
    placed = now - dt.timedelta(days=3)
    orders = session.scalars(
        insert(Order).returning(Order.id, sort_by_parameter_order=True),
        [
            {"number": f"{prefix}-{i}", "customer_id": cid, "placed_at": placed, "created_at": now}
            for i, cid in enumerate(ids)
        ],
    ).all()
    session.execute(
        insert(OrderLine),
        [
            {
                "order_id": order_id,
                "product_id": product.id,
                "quantity": 1,
                "allocated_quantity": 0,
                "backordered_quantity": 1,
                "status": LineStatus.BACKORDERED,
                "eta": product.eta,
                "first_eta": product.eta,
                "backordered_at": placed,
                "created_at": now,
            }
            for order_id in orders
        ],
    )
    return ids
