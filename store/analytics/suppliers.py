"""The supplier scorecard: what each supplier promised, what arrived when, and who still waits.

Definitions (every figure per supplier, over the supplier's products' history):

- A *promise* is a date a supplier (or an agent, an import, a purchase order) gave for a
  product: an ``eta_changes`` row with a ``new_eta``.
- A *receipt* is a ``stock_receipts`` row; its *received date* is the day of its ``created_at``
  in the shop's time zone. A receipt closes a *delivery round* of its product that began just
  after the product's previous receipt (or with its first promise).
- The round's *first promised date* is the date in force when the round began (the product's
  date just after the previous receipt), else the first date given during the round; its *last
  promised date* is the date in force when the goods came. A receipt with neither is
  *unpromised* and counts in no figure about dates.
- *On the first date*: received on or before the first promised date. *Days late*: received
  date minus first promised date when positive, else 0; *average lateness* is their mean over
  promised receipts (on-time ones count 0).
- A *slip* is a date change that moved a promise later (both dates set, new > old); its size is
  new - old in days. *Pulled in*: moved earlier. *Withdrawn*: a date replaced by no date.
- *Open backorder units*: ``backordered_quantity`` of the lines still backordered now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased

from store.models import EtaChange, LineStatus, OrderLine, Product, StockReceipt, Supplier

NO_SUPPLIER = "(no supplier)"


@dataclass(frozen=True, slots=True)
class ReceiptPromise:
    """One receipt against what was promised for it."""

    sku: str
    reference: str | None
    quantity: int
    received_on: dt.date
    first_promised: dt.date | None
    last_promised: dt.date | None

    @property
    def days_late(self) -> int | None:
        if self.first_promised is None:
            return None
        return max(0, (self.received_on - self.first_promised).days)


@dataclass(slots=True)
class Scorecard:
    supplier: str
    products: int = 0
    receipts: int = 0
    promised_receipts: int = 0
    on_first_date: int = 0
    total_days_late: int = 0
    max_days_late: int = 0
    date_changes: int = 0
    slips: int = 0
    slip_days: int = 0
    max_slip_days: int = 0
    pulled_in: int = 0
    withdrawn: int = 0
    open_backorder_units: int = 0
    open_backorder_lines: int = 0
    history: list[ReceiptPromise] = field(default_factory=list)

    @property
    def on_first_date_share(self) -> float | None:
        return self.on_first_date / self.promised_receipts if self.promised_receipts else None

    @property
    def average_days_late(self) -> float | None:
        return self.total_days_late / self.promised_receipts if self.promised_receipts else None

    @property
    def average_slip_days(self) -> float | None:
        return self.slip_days / self.slips if self.slips else None

    def add_receipt(self, receipt: ReceiptPromise) -> None:
        self.receipts += 1
        self.history.append(receipt)
        late = receipt.days_late
        if late is None:
            return
        self.promised_receipts += 1
        self.on_first_date += late == 0
        self.total_days_late += late
        self.max_days_late = max(self.max_days_late, late)

    def add_changes(self, changes: _Changes) -> None:
        self.date_changes += changes.count
        self.slips += changes.slips
        self.slip_days += changes.slip_days
        self.max_slip_days = max(self.max_slip_days, changes.max_slip_days)
        self.pulled_in += changes.pulled_in
        self.withdrawn += changes.withdrawn


@dataclass(frozen=True, slots=True)
class _Changes:
    """One product's date changes, counted by the database."""

    count: int
    slips: int
    slip_days: int
    max_slip_days: int
    pulled_in: int
    withdrawn: int


@dataclass(frozen=True, slots=True)
class _Product:
    sku: str
    supplier: str


def scorecards(session: Session, timezone: str = "UTC") -> list[Scorecard]:
    """One scorecard per supplier (and one for products without a supplier, if they have any
    history), by name. ``timezone`` is the shop's: it decides a receipt's day."""
    zone = ZoneInfo(timezone)
    products = _products(session)
    cards: dict[str, Scorecard] = {}

    def card(name: str) -> Scorecard:
        found = cards.get(name)
        if found is None:
            found = cards[name] = Scorecard(name)
        return found

    for name in session.scalars(select(Supplier.name)):
        card(name)
    for product in products.values():
        card(product.supplier).products += 1
    for product_id, changes in _changes_by_product(session):
        card(products[product_id].supplier).add_changes(changes)
    for receipt_product, receipt in _rounds(session, products, zone):
        card(products[receipt_product].supplier).add_receipt(receipt)
    for product_id, lines, units in _open_backorders(session):
        supplier = card(products[product_id].supplier)
        supplier.open_backorder_lines += lines
        supplier.open_backorder_units += units
    return sorted(
        (c for c in cards.values() if c.supplier != NO_SUPPLIER or c.receipts or c.date_changes),
        key=lambda c: c.supplier,
    )


def _products(session: Session) -> dict[int, _Product]:
    rows = session.execute(
        select(Product.id, Product.sku, func.coalesce(Supplier.name, NO_SUPPLIER)).outerjoin(
            Supplier, Supplier.id == Product.supplier_id
        )
    )
    return {pid: _Product(sku, supplier) for pid, sku, supplier in rows}


def _days_between(session: Session, later: Any, earlier: Any) -> ColumnElement[int]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(later - earlier, Integer)  # date - date is a whole number of days there
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def _changes_by_product(session: Session) -> list[tuple[int, _Changes]]:
    old, new = EtaChange.old_eta, EtaChange.new_eta
    both = and_(old.is_not(None), new.is_not(None))
    slipped = and_(both, new > old)
    size = _days_between(session, new, old)
    rows = session.execute(
        select(
            EtaChange.product_id,
            func.count(),
            func.sum(case((slipped, 1), else_=0)),
            func.sum(case((slipped, size), else_=0)),
            func.max(case((slipped, size), else_=0)),
            func.sum(case((and_(both, new < old), 1), else_=0)),
            func.sum(case((and_(old.is_not(None), new.is_(None)), 1), else_=0)),
        ).group_by(EtaChange.product_id)
    )
    return [(pid, _Changes(*(int(v or 0) for v in values))) for pid, *values in rows]


def _rounds(
    session: Session, products: dict[int, _Product], zone: ZoneInfo
) -> list[tuple[int, ReceiptPromise]]:
    """Each receipt with the first and last dates promised in its delivery round, found by the
    database (``ix_eta_changes_product_created``): the round began after the product's
    previous receipt, ``prev_at``."""
    prev_at = func.lag(StockReceipt.created_at).over(
        partition_by=StockReceipt.product_id, order_by=(StockReceipt.created_at, StockReceipt.id)
    )
    receipts = select(
        StockReceipt.id,
        StockReceipt.product_id,
        StockReceipt.created_at,
        StockReceipt.reference,
        StockReceipt.quantity,
        prev_at.label("prev_at"),
    ).subquery()
    change = aliased(EtaChange)

    def latest_until(moment: Any) -> Any:
        return (
            select(change.new_eta)
            .where(change.product_id == receipts.c.product_id, change.created_at <= moment)
            .order_by(change.created_at.desc(), change.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    first_in_round = (
        select(change.new_eta)
        .where(
            change.product_id == receipts.c.product_id,
            or_(receipts.c.prev_at.is_(None), change.created_at > receipts.c.prev_at),
            change.created_at <= receipts.c.created_at,
            change.new_eta.is_not(None),
        )
        .order_by(change.created_at, change.id)
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            receipts.c.product_id,
            receipts.c.created_at,
            receipts.c.reference,
            receipts.c.quantity,
            func.coalesce(latest_until(receipts.c.prev_at), first_in_round),
            latest_until(receipts.c.created_at),
        ).order_by(receipts.c.product_id, receipts.c.created_at, receipts.c.id)
    )
    found: list[tuple[int, ReceiptPromise]] = []
    for product_id, at, reference, quantity, first, last in rows:
        received_on = at.astimezone(zone).date()
        promise = ReceiptPromise(
            products[product_id].sku, reference, quantity, received_on, _day(first), _day(last)
        )
        found.append((product_id, promise))
    return found


def _day(value: dt.date | str | None) -> dt.date | None:
    # A scalar subquery's date comes back as text from SQLite.
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def _open_backorders(session: Session) -> list[tuple[int, int, int]]:
    # The status as a literal, not a bound parameter: only then may the planners read the
    # partial index of waiting lines (``ix_order_lines_open_backorders``), in SKU order.
    waiting = OrderLine.status == literal_column(f"'{LineStatus.BACKORDERED.value}'")
    rows = session.execute(
        select(OrderLine.product_id, func.count(), func.sum(OrderLine.backordered_quantity))
        .where(waiting)
        .group_by(OrderLine.product_id)
    )
    return [(pid, int(lines), int(units or 0)) for pid, lines, units in rows]
