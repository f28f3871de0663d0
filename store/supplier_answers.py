"""A supplier's answers from the supplier page, applied through ``store.eta.set_eta``.

``source="supplier"`` (reason ``supplier``), so customers are told once, by the same rules as an
agent's date; the supplier's note stays with the request and never reaches a customer.

An answer is per SKU (:class:`Answer`) or per purchase-order line (:class:`LineAnswer`): a line
answer sets that line's ``expected_date`` and the SKU's date becomes the earliest open line's,
as when a purchase order is imported (``store.catalog.record_purchase_order``); one ``set_eta``
per SKU, however many of its lines were answered, so a customer hears of one move once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.catalog import earliest_open_date
from store.errors import InvalidInput, NotFound
from store.eta import MAX_DAYS_AHEAD, set_eta, shop_today
from store.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus
from store.policy import Policy
from store.tables_suppliers import (
    SupplierAnswer,
    SupplierLineAnswer,
    SupplierRequest,
    SupplierRequestItem,
)

__all__ = ["Answer", "LineAnswer", "answer_request", "open_po_lines"]

NOTE_MAX = 2000


@dataclass(frozen=True, slots=True)
class Answer:
    """The supplier's word on one item: ``eta`` for ``changed`` (ignored otherwise)."""

    item_id: int
    answer: SupplierAnswer
    eta: dt.date | None = None


@dataclass(frozen=True, slots=True)
class LineAnswer:
    """The supplier's word on one purchase-order line of the request's SKUs."""

    po_line_id: int
    answer: SupplierAnswer
    eta: dt.date | None = None


def open_po_lines(session: Session, request: SupplierRequest) -> dict[int, list[PurchaseOrderLine]]:
    """Per request item, the supplier's open purchase-order lines for its SKU still owed."""
    by_product = {item.product_id: item.id for item in request.items}
    rows = session.scalars(
        select(PurchaseOrderLine)
        .join(PurchaseOrder)
        .where(
            PurchaseOrder.supplier_id == request.supplier_id,
            PurchaseOrder.status == PurchaseOrderStatus.OPEN,
            PurchaseOrderLine.product_id.in_(list(by_product)),
            PurchaseOrderLine.received_quantity < PurchaseOrderLine.quantity,
        )
        .order_by(PurchaseOrderLine.product_id, PurchaseOrder.reference)
    )
    found: dict[int, list[PurchaseOrderLine]] = {}
    for line in rows:
        found.setdefault(by_product[line.product_id], []).append(line)
    return found


def answer_request(
    session: Session,
    request: SupplierRequest,
    answers: list[Answer],
    note: str | None,
    *,
    now: dt.datetime,
    policy: Policy,
    line_answers: Sequence[LineAnswer] = (),
) -> int:
    """Apply the supplier's answers through ``set_eta``; return how many customers' lines moved.

    Every answer is checked before anything is written: one bad date refuses the whole form
    (``InvalidInput`` naming the SKU), so nothing is half-applied.
    """
    items = {item.id: item for item in request.items}
    today = shop_today(now, policy)
    planned: list[tuple[SupplierRequestItem, SupplierAnswer, dt.date | None]] = []
    for answer in answers:
        item = items.get(answer.item_id)
        if item is None:
            raise NotFound(f"no item {answer.item_id} in this request")
        planned.append((item, answer.answer, _new_eta(item, answer, today)))
    by_line = _plan_lines(session, request, line_answers, today)
    both = {item.id for item, _, _ in planned} & {item.id for item, _, _, _ in by_line}
    if both:
        sku = items[min(both)].product.sku
        raise InvalidInput(f"{sku}: answer per SKU or per purchase order line, not both")
    moved = sum(_apply(session, item, kind, eta, None, now, policy) for item, kind, eta in planned)
    moved += _apply_lines(session, by_line, now, policy, today)
    if note is not None and note.strip():
        request.note = note.strip()[:NOTE_MAX]
    request.answered_at = now
    return moved


def _apply(
    session: Session,
    item: SupplierRequestItem,
    kind: SupplierAnswer,
    eta: dt.date | None,
    po_line_id: int | None,
    now: dt.datetime,
    policy: Policy,
) -> int:
    result = set_eta(
        session,
        item.product.sku,
        eta,
        source="supplier",
        policy=policy,
        now=now,
        reason="supplier",
        purchase_order_line_id=po_line_id,
    )
    item.answer = kind
    item.answered_eta = eta
    return len(result.changed_line_ids) + len(result.delay_lines)


_PlannedLine = tuple[SupplierRequestItem, PurchaseOrderLine, SupplierAnswer, dt.date | None]


def _plan_lines(
    session: Session, request: SupplierRequest, answers: Sequence[LineAnswer], today: dt.date
) -> list[_PlannedLine]:
    """Each line answer with its item, line and new date; a line not open in this request's
    SKUs is ``NotFound`` (a forged or stale form), a bad date ``InvalidInput``."""
    if not answers:
        return []
    items = {item.id: item for item in request.items}
    lines = {
        line.id: (items[item_id], line)
        for item_id, found in open_po_lines(session, request).items()
        for line in found
    }
    planned = []
    for answer in answers:
        if answer.po_line_id not in lines:
            raise NotFound(f"no open purchase order line {answer.po_line_id} in this request")
        item, line = lines[answer.po_line_id]
        label = f"{item.product.sku} ({line.purchase_order.reference})"
        given = line.expected_date if answer.answer is SupplierAnswer.CONFIRMED else answer.eta
        eta = _checked(label, answer.answer, given, today, f"eta_po_{line.id}")
        planned.append((item, line, answer.answer, eta))
    return planned


def _apply_lines(
    session: Session, planned: list[_PlannedLine], now: dt.datetime, policy: Policy, today: dt.date
) -> int:
    """Write each line's date, then one ``set_eta`` per SKU with its earliest open date."""
    by_item: dict[int, list[_PlannedLine]] = {}
    for entry in planned:
        item, line, kind, eta = entry
        line.expected_date = eta
        _record(item, line, kind, eta, now)
        by_item.setdefault(item.id, []).append(entry)
    session.flush()
    moved = 0
    for entries in by_item.values():
        item = entries[0][0]
        eta = earliest_open_date(session, item.product_id, today)
        kinds = {kind for _, _, kind, _ in entries}
        summary = (
            SupplierAnswer.UNKNOWN
            if eta is None
            else SupplierAnswer.CONFIRMED
            if kinds == {SupplierAnswer.CONFIRMED}
            else SupplierAnswer.CHANGED
        )
        # The EtaChange names the answered line whose date is now in force, if one is.
        line_id = next((ln.id for _, ln, _, d in entries if d == eta), entries[0][1].id)
        moved += _apply(session, item, summary, eta, line_id, now, policy)
    return moved


def _record(
    item: SupplierRequestItem,
    line: PurchaseOrderLine,
    kind: SupplierAnswer,
    eta: dt.date | None,
    now: dt.datetime,
) -> None:
    """Keep the latest answer per line: a corrected answer replaces the earlier one."""
    for found in item.line_answers:
        if found.purchase_order_line_id == line.id:
            found.answer, found.answered_eta, found.answered_at = kind, eta, now
            return
    item.line_answers.append(
        SupplierLineAnswer(
            purchase_order_line_id=line.id, answer=kind, answered_eta=eta, answered_at=now
        )
    )


def _new_eta(item: SupplierRequestItem, answer: Answer, today: dt.date) -> dt.date | None:
    given = item.product.eta if answer.answer is SupplierAnswer.CONFIRMED else answer.eta
    return _checked(item.product.sku, answer.answer, given, today, f"eta_{item.id}")


def _checked(
    label: str, kind: SupplierAnswer, eta: dt.date | None, today: dt.date, field: str
) -> dt.date | None:
    """The date an answer sets (None for unknown); ``InvalidInput`` naming ``label`` if bad."""
    if kind is SupplierAnswer.UNKNOWN:
        return None
    if eta is None:
        word = (
            "confirm: there is no date to confirm"
            if kind is SupplierAnswer.CONFIRMED
            else "give a date"
        )
        raise InvalidInput(f"{label}: {word}", field=field)
    if eta < today:
        raise InvalidInput(
            f"{label}: {eta.isoformat()} has passed (today is {today.isoformat()})", field=field
        )
    if (eta - today).days > MAX_DAYS_AHEAD:
        raise InvalidInput(f"{label}: {eta.isoformat()} is more than 2 years ahead", field=field)
    return eta
