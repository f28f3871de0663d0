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
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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

    def add_change(self, old: dt.date | None, new: dt.date | None) -> None:
        self.date_changes += 1
        if old is not None and new is None:
            self.withdrawn += 1
        elif old is not None and new is not None and new > old:
            self.slips += 1
            self.slip_days += (new - old).days
            self.max_slip_days = max(self.max_slip_days, (new - old).days)
        elif old is not None and new is not None and new < old:
            self.pulled_in += 1


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
        return cards.setdefault(name, Scorecard(name))

    for name in session.scalars(select(Supplier.name)):
        card(name)
    for product in products.values():
        card(product.supplier).products += 1
    changes = _changes_by_product(session)
    for product_id, rows in changes.items():
        for _, old, new in rows:
            card(products[product_id].supplier).add_change(old, new)
    for receipt_product, receipt in _rounds(session, products, changes, zone):
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


_Change = tuple[dt.datetime, dt.date | None, dt.date | None]


def _changes_by_product(session: Session) -> dict[int, list[_Change]]:
    changes: dict[int, list[_Change]] = defaultdict(list)
    rows = session.execute(
        select(
            EtaChange.product_id, EtaChange.created_at, EtaChange.old_eta, EtaChange.new_eta
        ).order_by(EtaChange.product_id, EtaChange.created_at, EtaChange.id)
    )
    for product_id, at, old, new in rows:
        changes[product_id].append((at, old, new))
    return changes


def _rounds(
    session: Session,
    products: dict[int, _Product],
    changes: dict[int, list[_Change]],
    zone: ZoneInfo,
) -> list[tuple[int, ReceiptPromise]]:
    """Each receipt with the first and last dates promised in its delivery round."""
    found: list[tuple[int, ReceiptPromise]] = []
    rows = session.execute(
        select(
            StockReceipt.product_id,
            StockReceipt.created_at,
            StockReceipt.reference,
            StockReceipt.quantity,
        ).order_by(StockReceipt.product_id, StockReceipt.created_at, StockReceipt.id)
    )
    position: dict[int, int] = defaultdict(int)  # the next change not yet in a round
    in_force: dict[int, dt.date | None] = {}  # the date in force when the round began
    for product_id, at, reference, quantity in rows:
        history = changes.get(product_id, [])
        i = position[product_id]
        first = in_force.get(product_id)
        last = first
        while i < len(history) and history[i][0] <= at:
            new = history[i][2]
            if first is None and new is not None:
                first = new
            last = new
            i += 1
        position[product_id] = i
        in_force[product_id] = last
        received_on = at.astimezone(zone).date()
        sku = products[product_id].sku
        found.append(
            (product_id, ReceiptPromise(sku, reference, quantity, received_on, first, last))
        )
    return found


def _open_backorders(session: Session) -> list[tuple[int, int, int]]:
    rows = session.execute(
        select(OrderLine.product_id, func.count(), func.sum(OrderLine.backordered_quantity))
        .where(OrderLine.status == LineStatus.BACKORDERED)
        .group_by(OrderLine.product_id)
    )
    return [(pid, int(lines), int(units or 0)) for pid, lines, units in rows]
