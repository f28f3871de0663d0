"""Refunds owed for cancelled lines: what the customer is told, and what the shop must pay back.

backorder-bot does not move money itself (the shop's platform does). When a line is cancelled,
by the customer's choice, by silence on a renewed delay notice, or by an agent, this module
writes one ``refunds`` row with the amount in the same transaction, and the customer's message
quotes that row's amount. The row stays *due* until the shop settles it (``backorder-bot refunds
settle``, ``POST /api/refunds/{id}/settle``), so every promised refund is on a list until paid.

The amount is the line's unit price when the order was placed times the units not shipped;
a line placed before prices were kept is refunded at the product's price of the time it is
cancelled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import get_currency_precision
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import Conflict, InvalidInput, NotFound
from store.models import LineStatus, OrderLine, Refund

# Lines that still count as part of an order: a cancelled line does not, and a switched line
# has handed its place to the line that replaced it.
GONE_STATUSES = (LineStatus.CANCELLED, LineStatus.SWITCHED)


@dataclass(frozen=True, slots=True)
class CancelScope:
    """What cancelling one late line means for its order, as the customer must be told it."""

    whole_order: bool  # no other line of the order remains: cancelling it cancels the order
    other_lines: int  # lines of the order that stay (allocated, waiting or shipped)


def cancel_scope(line: OrderLine) -> CancelScope:
    others = [
        o
        for o in line.order.lines
        if o.status not in GONE_STATUSES and o.id not in (line.id, line.replaced_by_line_id)
    ]
    return CancelScope(whole_order=not others, other_lines=len(others))


def unit_price(line: OrderLine) -> int:
    """The price one unit of ``line`` was sold at, in minor units of its currency."""
    return line.unit_price_cents if line.unit_price_cents is not None else line.product.price_cents


def refund_preview(line: OrderLine) -> int:
    """What cancelling ``line`` now would refund (its unshipped units), in minor units."""
    return unit_price(line) * (line.quantity - line.shipped_quantity)


def record_refund(
    session: Session, line: OrderLine, *, quantity: int, reason: str, now: dt.datetime
) -> Refund:
    """The refund for ``quantity`` cancelled units of ``line``; one per line, ever."""
    existing = session.scalars(select(Refund).where(Refund.line_id == line.id)).first()
    if existing is not None:
        return existing
    refund = Refund(
        order_id=line.order_id,
        line_id=line.id,
        quantity=quantity,
        amount_cents=unit_price(line) * quantity,
        currency=line.currency or line.product.currency,
        reason=reason,
        created_at=now,
    )
    session.add(refund)
    session.flush()
    return refund


def refunds(session: Session, *, due_only: bool = True, limit: int = 500) -> Sequence[Refund]:
    """Refunds, oldest first; by default only those the shop has not settled yet."""
    query = select(Refund).order_by(Refund.created_at, Refund.id).limit(limit)
    if due_only:
        query = query.where(Refund.settled_at.is_(None))
    return session.scalars(query).all()


def settle_refund(
    session: Session, refund_id: int, *, by: str, reference: str | None, now: dt.datetime
) -> Refund:
    """Mark a refund as paid back. Settling it again with the same reference changes nothing."""
    refund = session.scalars(select(Refund).where(Refund.id == refund_id).with_for_update()).first()
    if refund is None:
        raise NotFound(f"refund {refund_id} does not exist")
    if reference is not None and not (0 < len(reference.strip()) <= 200):
        raise InvalidInput("a reference is 1 to 200 characters", field="reference")
    reference = reference.strip() if reference else None
    if refund.settled_at is not None:
        if refund.reference == reference:
            return refund
        raise Conflict(f"refund {refund_id} was already settled with another reference")
    refund.settled_at = now
    refund.settled_by = by
    refund.reference = reference
    return refund


def refund_record(refund: Refund) -> dict[str, object]:
    """A refund for the API and the CLI; the amount also as a decimal string in its currency."""
    amount = Decimal(refund.amount_cents).scaleb(-get_currency_precision(refund.currency))
    return {
        "id": refund.id,
        "order_number": refund.line.order.number,
        "sku": refund.line.product.sku,
        "quantity": refund.quantity,
        "amount": str(amount),
        "amount_cents": refund.amount_cents,
        "currency": refund.currency,
        "reason": refund.reason,
        "created_at": refund.created_at.isoformat(),
        "settled_at": refund.settled_at.isoformat() if refund.settled_at else None,
        "settled_by": refund.settled_by,
        "reference": refund.reference,
    }
