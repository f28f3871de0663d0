"""Read-only views of the shop's state for the CLI, the API and the dashboard."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from store.models import (
    Customer,
    LineStatus,
    Offer,
    OfferStatus,
    Order,
    OrderLine,
    Product,
    Shipment,
    ShipmentLine,
    Supplier,
)


@dataclass(frozen=True, slots=True)
class BackorderSummary:
    """One SKU's waiting lines, for the report and the agents' board."""

    sku: str
    name: str
    supplier: str | None
    lines_waiting: int
    units_waiting: int
    oldest_placed_at: dt.datetime
    eta: dt.date | None
    stock_on_hand: int

    def oldest_wait_days(self, now: dt.datetime) -> int:
        return (now - self.oldest_placed_at).days


def backorder_summary(session: Session, sku: str | None = None) -> list[BackorderSummary]:
    """Waiting lines grouped by SKU, longest wait first."""
    query = (
        select(
            Product.sku,
            Product.name,
            Supplier.name,
            func.count(OrderLine.id),
            func.sum(OrderLine.backordered_quantity),
            func.min(Order.placed_at),
            Product.eta,
            Product.stock_on_hand,
        )
        .join(OrderLine, OrderLine.product_id == Product.id)
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id)
        .where(OrderLine.status == LineStatus.BACKORDERED)
        .group_by(Product.id, Product.sku, Product.name, Supplier.name, Product.eta)
        .order_by(func.min(Order.placed_at), Product.sku)
    )
    if sku is not None:
        query = query.where(Product.sku == sku)
    return [
        BackorderSummary(
            sku=row[0],
            name=row[1],
            supplier=row[2],
            lines_waiting=row[3],
            units_waiting=int(row[4]),
            oldest_placed_at=row[5],
            eta=row[6],
            stock_on_hand=row[7],
        )
        for row in session.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class WaitingLine:
    order_number: str
    customer_name: str
    quantity: int
    backordered_quantity: int
    placed_at: dt.datetime
    eta: dt.date | None
    eta_slips: int
    offer_status: str | None
    offer_choice: str | None
    # When the latest offer runs out: an open one past it has expired, even before the expiry
    # job has marked it so (the dashboard shows it as expired, not as waiting for an answer).
    offer_expires_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class BackorderGroup:
    summary: BackorderSummary
    lines: list[WaitingLine] = field(default_factory=list)


def backorders(session: Session, sku: str | None = None) -> list[BackorderGroup]:
    """Every waiting line, grouped by SKU (oldest order first within a SKU)."""
    groups = {s.sku: BackorderGroup(s) for s in backorder_summary(session, sku)}
    if not groups:
        return []
    rows = session.execute(
        select(OrderLine, Order.number, Order.placed_at, Customer.name, Product.sku)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Customer, Customer.id == Order.customer_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.status == LineStatus.BACKORDERED, Product.sku.in_(list(groups)))
        .options(selectinload(OrderLine.offers))
        .order_by(Product.sku, Order.placed_at, OrderLine.id)
    )
    for line, number, placed_at, customer_name, line_sku in rows:
        latest = line.offers[-1] if line.offers else None
        groups[line_sku].lines.append(
            WaitingLine(
                order_number=number,
                customer_name=customer_name,
                quantity=line.quantity,
                backordered_quantity=line.backordered_quantity,
                placed_at=placed_at,
                eta=line.eta,
                eta_slips=line.eta_slips,
                offer_status=latest.status.value if latest else None,
                offer_choice=latest.choice.value if latest and latest.choice else None,
                offer_expires_at=latest.expires_at if latest else None,
            )
        )
    return list(groups.values())


def order_with_lines(session: Session, number: str) -> Order | None:
    """An order with its customer, lines, products and offers loaded (no lazy loads later)."""
    return session.scalars(
        select(Order)
        .where(Order.number == number)
        .options(
            selectinload(Order.customer),
            selectinload(Order.lines).selectinload(OrderLine.product),
            selectinload(Order.lines)
            .selectinload(OrderLine.offers)
            .selectinload(Offer.alternative),
            selectinload(Order.shipments)
            .selectinload(Shipment.lines)
            .selectinload(ShipmentLine.line)
            .selectinload(OrderLine.product),
        )
    ).first()


def open_offer(line: OrderLine) -> Offer | None:
    return next((o for o in reversed(line.offers) if o.status == OfferStatus.OPEN), None)
