"""Recording domain events, always inside the transaction that made the change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from store.models import DomainEvent, EventKind, Offer, OrderLine


def record(
    session: Session,
    kind: EventKind,
    line: OrderLine,
    *,
    offer: Offer | None = None,
    **payload: Any,
) -> DomainEvent:
    """Add an event about one order line; the caller's transaction commits it with the change."""
    event = DomainEvent(
        kind=kind.value,
        customer_id=line.order.customer_id,
        order_id=line.order_id,
        line_id=line.id,
        product_id=line.product_id,
        offer_id=offer.id if offer is not None else None,
        payload=payload_of(**payload),
    )
    session.add(event)
    return event


def payload_of(**values: Any) -> dict[str, Any]:
    """An event payload as stored: dates as ISO text."""
    return {key: _jsonable(value) for key, value in values.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
