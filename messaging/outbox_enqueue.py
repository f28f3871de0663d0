"""Queueing rendered messages into the outbox, many rows at a time (the notifier, broadcasts).

Re-exported by ``messaging.outbox``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from messaging.outbox_rows import OUTBOX, QueuedMessage
from store.db import copy_rows
from store.models import (
    OutboxStatus,
)


def enqueue(session: Session, messages: Sequence[QueuedMessage], now: dt.datetime) -> None:
    """Insert messages with one executemany; a dedupe key seen before is silently kept once."""
    if not messages:
        return
    columns = _columns_of(messages, now)
    if session.get_bind().dialect.name == "postgresql":
        copy_rows(
            session,
            "outbox_messages",
            _COPY_COLUMNS,
            zip(*(_copy_column(name, columns[name]) for name in _COPY_COLUMNS), strict=True),
            skip_conflicts_on="dedupe_key",
        )
        return
    connection = session.connection()
    sql, processors = _sqlite_insert(connection.dialect)
    # The driver's executemany with the columns' own bind processors (the same stored forms as
    # a Core insert writes): SQLAlchemy's per-row parameter handling was a third of the time.
    bound = [_processed(columns[name], _adapted(process)) for name, process in processors]
    connection.exec_driver_sql(sql, list(zip(*bound, strict=True)))


def _columns_of(messages: Sequence[QueuedMessage], now: dt.datetime) -> dict[str, list[Any]]:
    """The rows column by column: a list per column costs less than a dict per row, and the
    constant columns of a fan-out are one list repeated."""
    n = len(messages)
    return {
        "dedupe_key": [m.dedupe_key for m in messages],
        "customer_id": [m.customer_id for m in messages],
        "supplier_id": [m.supplier_id for m in messages],
        "channel": [m.channel for m in messages],
        "address": [m.address for m in messages],
        "message": [m.message for m in messages],
        "locale": [m.locale for m in messages],
        "body": [m.body for m in messages],
        "buttons": [m.buttons for m in messages],
        "event_id": [m.event_id for m in messages],
        "broadcast_id": [m.broadcast_id for m in messages],
        "urgent": [m.urgent for m in messages],
        "status": [OutboxStatus.PENDING] * n,
        "attempts": [0] * n,
        "due_at": [m.due_at or now for m in messages],
        "created_at": [now] * n,
    }


def _processed(values: list[Any], process: Any) -> list[Any]:
    """One column's values as bound; a fan-out repeats a few (its times, its status) for
    every row, so each distinct value is processed once."""
    if process is None:
        return values
    done: dict[tuple[type, Any], Any] = {}
    out = []
    for value in values:
        try:
            key = (type(value), value)
            out.append(done[key] if key in done else done.setdefault(key, process(value)))
        except TypeError:  # unhashable (buttons): processed each time
            out.append(process(value))
    return out


def _adapted(process: Any) -> Any:
    """``process``, then what the sqlite3 driver's default adapter does to a datetime (its
    ``isoformat(" ")``), once per distinct value instead of once per row in the driver."""
    if process is None:
        return None

    def bound(value: Any) -> Any:
        value = process(value)
        return value.isoformat(" ") if type(value) is dt.datetime else value

    return bound


_COPY_COLUMNS = (
    "dedupe_key",
    "customer_id",
    "supplier_id",
    "channel",
    "address",
    "message",
    "locale",
    "body",
    "buttons",
    "event_id",
    "broadcast_id",
    "urgent",
    "status",
    "attempts",
    "due_at",
    "created_at",
)


def _copy_column(name: str, values: list[Any]) -> list[Any]:
    """One column as COPY wants it: stored forms, as the column types would bind them."""
    if name == "buttons":
        return [json.dumps(v) if v is not None else None for v in values]
    if name in _TYPED_COLUMNS:
        return _processed(values, _to_stored)
    return values


# The columns whose values are enums or datetimes (QueuedMessage's types); the others are
# stored as given.
_TYPED_COLUMNS = frozenset({"channel", "status", "due_at", "created_at"})


def _to_stored(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


_SQLITE_INSERTS: dict[Dialect, tuple[str, list[tuple[str, Any]]]] = {}


def _sqlite_insert(dialect: Dialect) -> tuple[str, list[tuple[str, Any]]]:
    """The compiled INSERT ... ON CONFLICT DO NOTHING and each parameter's bind processor."""
    found = _SQLITE_INSERTS.get(dialect)
    if found is None:
        statement = sqlite_insert(OUTBOX).on_conflict_do_nothing(index_elements=["dedupe_key"])
        compiled = statement.compile(dialect=dialect, column_keys=list(_COPY_COLUMNS))
        names = list(compiled.positiontup or ())
        assert sorted(names) == sorted(_COPY_COLUMNS), names
        processors = [(name, OUTBOX.c[name].type.bind_processor(dialect)) for name in names]
        found = _SQLITE_INSERTS[dialect] = (compiled.string, processors)
    return found
