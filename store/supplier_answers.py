"""A supplier's answers from the supplier page, applied through ``store.eta.set_eta``.

``source="supplier"`` (reason ``supplier``), so customers are told once, by the same rules as an
agent's date; the supplier's note stays with the request and never reaches a customer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from store.errors import InvalidInput, NotFound
from store.eta import MAX_DAYS_AHEAD, set_eta, shop_today
from store.policy import Policy
from store.tables_suppliers import SupplierAnswer, SupplierRequest, SupplierRequestItem

__all__ = ["Answer", "answer_request"]

NOTE_MAX = 2000


@dataclass(frozen=True, slots=True)
class Answer:
    """The supplier's word on one item: ``eta`` for ``changed`` (ignored otherwise)."""

    item_id: int
    answer: SupplierAnswer
    eta: dt.date | None = None


def answer_request(
    session: Session,
    request: SupplierRequest,
    answers: list[Answer],
    note: str | None,
    *,
    now: dt.datetime,
    policy: Policy,
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
    moved = 0
    for item, kind, eta in planned:
        result = set_eta(
            session,
            item.product.sku,
            eta,
            source="supplier",
            policy=policy,
            now=now,
            reason="supplier",
        )
        moved += len(result.changed_line_ids) + len(result.delay_lines)
        item.answer = kind
        item.answered_eta = eta
    if note is not None and note.strip():
        request.note = note.strip()[:NOTE_MAX]
    request.answered_at = now
    return moved


def _new_eta(item: SupplierRequestItem, answer: Answer, today: dt.date) -> dt.date | None:
    sku = item.product.sku
    if answer.answer is SupplierAnswer.UNKNOWN:
        return None
    eta = item.product.eta if answer.answer is SupplierAnswer.CONFIRMED else answer.eta
    if eta is None:
        word = (
            "confirm: there is no date to confirm"
            if answer.answer is SupplierAnswer.CONFIRMED
            else "give a date"
        )
        raise InvalidInput(f"{sku}: {word}", field=f"eta_{item.id}")
    if eta < today:
        raise InvalidInput(
            f"{sku}: {eta.isoformat()} has passed (today is {today.isoformat()})",
            field=f"eta_{item.id}",
        )
    if (eta - today).days > MAX_DAYS_AHEAD:
        raise InvalidInput(
            f"{sku}: {eta.isoformat()} is more than 2 years ahead", field=f"eta_{item.id}"
        )
    return eta
