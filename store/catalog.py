"""Products, suppliers, alternatives and purchase orders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.allocation import set_shop_count
from store.errors import InvalidInput, NotFound
from store.eta import EtaResult, check_new_date, set_eta, shop_today
from store.locking import lock_products
from store.models import (
    Product,
    ProductAlternative,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    Supplier,
)
from store.money import check_currency
from store.policy import Policy


@dataclass(frozen=True, slots=True)
class ProductData:
    sku: str
    name: str
    price_cents: int
    category: str
    stock_on_hand: int
    supplier: str | None = None
    alternatives: Sequence[str] = field(default_factory=tuple)
    discount_percent: int | None = None
    currency: str = "USD"


def get_or_create_supplier(session: Session, name: str) -> Supplier:
    supplier = session.scalars(select(Supplier).where(Supplier.name == name)).first()
    if supplier is None:
        supplier = Supplier(name=name)
        session.add(supplier)
        session.flush()
    return supplier


def find_product(session: Session, sku: str) -> Product:
    product = session.scalars(select(Product).where(Product.sku == sku)).first()
    if product is None:
        raise NotFound(f"unknown sku {sku!r}")
    return product


def upsert_product(session: Session, data: ProductData, now: dt.datetime) -> Product:
    """Create or update a product; ``stock_on_hand`` is the shop's count (see ``set_shop_count``).

    Idempotent: the same data twice leaves the same state. Units that became free go to
    waiting lines at once, oldest order first.
    """
    if data.stock_on_hand < 0:
        raise InvalidInput("stock_on_hand cannot be negative")
    if data.price_cents < 0:
        raise InvalidInput("price cannot be negative")
    currency = check_currency(data.currency)
    # The product's row first (the lock order of ``store.locking``), before allocation
    # locks its waiting lines.
    product = session.scalars(
        select(Product)
        .where(Product.sku == data.sku)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).first()
    if product is None:
        product = Product(sku=data.sku)
        session.add(product)
    product.name = data.name
    product.price_cents = data.price_cents
    product.currency = currency
    product.category = data.category
    product.discount_percent = data.discount_percent
    product.supplier = get_or_create_supplier(session, data.supplier) if data.supplier else None
    session.flush()
    set_alternatives(session, product, data.alternatives)
    set_shop_count(session, product, data.stock_on_hand, now)
    return product


def set_alternatives(session: Session, product: Product, skus: Sequence[str]) -> None:
    if product.sku in skus:
        raise InvalidInput(f"{product.sku} cannot be its own alternative")
    found = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(skus)))}
    missing = [sku for sku in skus if sku not in found]
    if missing:
        raise NotFound(f"unknown alternative sku: {', '.join(missing)}")
    # A switch offer shows the alternative's price in the line's currency: another currency's
    # amount would be mislabelled, and the price band cannot compare them.
    foreign = [p for p in (found[sku] for sku in skus) if p.currency != product.currency]
    if foreign:
        raise InvalidInput(
            "; ".join(
                f"alternative {p.sku} is priced in {p.currency}, not {product.currency}"
                for p in foreign
            ),
            field="alternatives",
        )
    product.alternatives = [
        ProductAlternative(alternative=found[sku], position=i) for i, sku in enumerate(skus)
    ]
    session.flush()


@dataclass(frozen=True, slots=True)
class PurchaseLineData:
    sku: str
    quantity: int
    expected_date: dt.date | None


def record_purchase_order(
    session: Session,
    *,
    reference: str,
    supplier: str,
    lines: Sequence[PurchaseLineData],
    policy: Policy,
    now: dt.datetime,
) -> list[EtaResult]:
    """Create or update a purchase order; each product's ETA becomes its earliest open date.

    Every line's date is checked before anything is written: one past date refuses the order.
    An open line whose date has since passed is a stale promise and no longer sets the ETA.
    """
    today = shop_today(now, policy)
    for data in lines:
        check_new_date(data.expected_date, today, field="expected_date")
    po = session.scalars(select(PurchaseOrder).where(PurchaseOrder.reference == reference)).first()
    if po is None:
        po = PurchaseOrder(reference=reference, supplier=get_or_create_supplier(session, supplier))
        session.add(po)
        session.flush()
    by_product = {line.product_id: line for line in po.lines}
    touched: list[tuple[Product, PurchaseOrderLine]] = []
    for data in lines:
        if data.quantity <= 0:
            raise InvalidInput(f"quantity for {data.sku} must be a positive whole number")
        product = find_product(session, data.sku)
        po_line = by_product.get(product.id)
        if po_line is None:
            po_line = PurchaseOrderLine(purchase_order=po, product=product, quantity=0)
            session.add(po_line)
            by_product[product.id] = po_line
        po_line.quantity = data.quantity
        po_line.expected_date = data.expected_date
        touched.append((product, po_line))
    session.flush()
    lock_products(session, [product.id for product, _ in touched])  # all at once, in id order
    return [
        set_eta(
            session,
            product.sku,
            earliest_open_date(session, product.id, today),
            source="purchase_order",
            reason=f"purchase order {reference}",
            purchase_order_line_id=po_line.id,
            policy=policy,
            now=now,
        )
        for product, po_line in touched
    ]


def earliest_open_date(session: Session, product_id: int, today: dt.date) -> dt.date | None:
    """A product's date from its purchase orders: the earliest date of an open line still owed
    (a passed date is a stale promise and counts for nothing)."""
    dates = session.scalars(
        select(PurchaseOrderLine.expected_date)
        .join(PurchaseOrder)
        .where(
            PurchaseOrderLine.product_id == product_id,
            PurchaseOrder.status == PurchaseOrderStatus.OPEN,
            PurchaseOrderLine.received_quantity < PurchaseOrderLine.quantity,
            PurchaseOrderLine.expected_date >= today,
        )
    ).all()
    return min((d for d in dates if d is not None), default=None)
