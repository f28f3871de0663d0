"""Recording domain events, always inside the transaction that made the change."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from store.db import copy_rows
from store.models import DomainEvent, EventKind, Offer, OrderLine

EVENTS = cast(Table, DomainEvent.__table__)


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


_TABLE = cast(Table, DomainEvent.__table__)
_INSERT = insert(_TABLE)  # parameters with each execution: compiled once


def insert_one(session: Session, kind: EventKind, **columns: Any) -> None:
    """The same row as ``record`` from plain ids, in one Core INSERT: for callers that wrote
    the line without the ORM (``store.order_intake``) and need no event object back."""
    session.execute(_INSERT, {"kind": kind.value, **columns})


_BULK_COLUMNS = (
    "kind",
    "customer_id",
    "order_id",
    "line_id",
    "product_id",
    "offer_id",
    "payload",
    "created_at",
)


def insert_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Many events at once: COPY on PostgreSQL, one executemany elsewhere.

    Each row has the keys of ``_BULK_COLUMNS`` (``offer_id`` may be left out: none);
    ``created_at`` is an aware UTC datetime.
    """
    if session.get_bind().dialect.name != "postgresql":
        # Core, not the ORM's bulk insert: that one ran a statement per row on SQLite.
        session.connection().execute(insert(EVENTS), rows)
        return
    copy_rows(
        session,
        "domain_events",
        _BULK_COLUMNS,
        (
            (
                row["kind"],
                row["customer_id"],
                row["order_id"],
                row["line_id"],
                row["product_id"],
                row.get("offer_id"),
                json.dumps(row["payload"]),
                row["created_at"].astimezone(dt.UTC).replace(tzinfo=None),
            )
            for row in rows
        ),
    )


def payload_of(**values: Any) -> dict[str, Any]:
    """An event payload as stored: dates as ISO text."""
    return {key: _jsonable(value) for key, value in values.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
