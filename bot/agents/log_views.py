"""The outbox and audit-log lists behind ``/agent/outbox``, ``/agent/audit`` and their JSON
twins: filters read from query fields, one page of rows, newest first, paged by id.

Paging by ``id < before`` (keyset), not by offset: page two stays page two while the
dispatcher keeps adding rows, and a deep page costs what the first does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from store.models import AuditEntry, Channel, OutboxMessage, OutboxStatus

PAGE_SIZE = 50
MAX_ID = 2**63 - 1


@dataclass(slots=True)
class OutboxFilter:
    status: OutboxStatus | None = None
    channel: Channel | None = None
    customer_id: int | None = None
    since: dt.date | None = None  # the shop's local dates, inclusive
    until: dt.date | None = None
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    before: int | None = None
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # as typed, to show the form again


@dataclass(slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    customer_id: int | None = None
    before: int | None = None
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    next_before: int | None  # the cursor of the next (older) page, if there is one


def read_outbox_filter(query: dict[str, str], timezone: ZoneInfo) -> OutboxFilter:
    values = {k: query.get(k, "").strip()[:64] for k in _OUTBOX_FIELDS}
    wanted = OutboxFilter(timezone=timezone, values=values)
    errors = wanted.errors
    if values["status"]:
        try:
            wanted.status = OutboxStatus(values["status"])
        except ValueError:
            errors["status"] = "pick a status from the list"
    if values["channel"]:
        try:
            wanted.channel = Channel(values["channel"])
        except ValueError:
            errors["channel"] = "pick a channel from the list"
    wanted.customer_id = _id(values["customer"], "customer", errors)
    wanted.since = _date(values["from"], "from", errors)
    wanted.until = _date(values["to"], "to", errors)
    if wanted.since and wanted.until and wanted.since > wanted.until:
        errors["to"] = "the end date is before the start date"
        wanted.until = None
    wanted.before = _id(values["before"], "before", errors)
    return wanted


def read_audit_filter(query: dict[str, str]) -> AuditFilter:
    values = {k: query.get(k, "").strip()[:64] for k in _AUDIT_FIELDS}
    wanted = AuditFilter(values=values)
    wanted.actor = values["agent"].lower() or None
    wanted.action = values["action"] or None
    wanted.customer_id = _id(values["customer"], "customer", wanted.errors)
    wanted.before = _id(values["before"], "before", wanted.errors)
    return wanted


def outbox_page(session: Session, wanted: OutboxFilter, limit: int = PAGE_SIZE) -> Page:
    query = select(OutboxMessage)
    if wanted.status is not None:
        query = query.where(OutboxMessage.status == wanted.status)
    if wanted.channel is not None:
        query = query.where(OutboxMessage.channel == wanted.channel)
    if wanted.customer_id is not None:
        query = query.where(OutboxMessage.customer_id == wanted.customer_id)
    if wanted.since is not None:
        query = query.where(OutboxMessage.created_at >= _start(wanted.since, wanted.timezone))
    if wanted.until is not None:
        end = _start(wanted.until + dt.timedelta(days=1), wanted.timezone)
        query = query.where(OutboxMessage.created_at < end)
    if wanted.before is not None:
        query = query.where(OutboxMessage.id < wanted.before)
    rows = list(session.scalars(_newest(query, OutboxMessage.id, limit)))
    return _page([_outbox_row(r) for r in rows[:limit]], len(rows) > limit)


def audit_page(session: Session, wanted: AuditFilter, limit: int = PAGE_SIZE) -> Page:
    query = select(AuditEntry)
    if wanted.actor is not None:
        query = query.where(AuditEntry.actor == wanted.actor)
    if wanted.action is not None:
        query = query.where(AuditEntry.action == wanted.action)
    if wanted.customer_id is not None:
        query = query.where(AuditEntry.subject == f"customer:{wanted.customer_id}")
    if wanted.before is not None:
        query = query.where(AuditEntry.id < wanted.before)
    rows = list(session.scalars(_newest(query, AuditEntry.id, limit)))
    return _page([_audit_row(r) for r in rows[:limit]], len(rows) > limit)


_OUTBOX_FIELDS = ("status", "channel", "customer", "from", "to", "before")
_AUDIT_FIELDS = ("agent", "action", "customer", "before")


def _newest(query: Select[Any], column: Any, limit: int) -> Select[Any]:
    return query.order_by(column.desc()).limit(limit + 1)  # one more: is there a next page?


def _page(rows: list[dict[str, Any]], more: bool) -> Page:
    return Page(rows, rows[-1]["id"] if more and rows else None)


def _outbox_row(row: OutboxMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "customer_id": row.customer_id,
        "channel": row.channel.value,
        "message": row.message,
        "status": row.status.value,
        "attempts": row.attempts,
        "created_at": row.created_at,
        "due_at": row.due_at,
        "last_error": row.last_error,
        "broadcast_id": row.broadcast_id,
    }


def _audit_row(row: AuditEntry) -> dict[str, Any]:
    subject = row.subject or ""
    customer = subject.removeprefix("customer:")
    return {
        "id": row.id,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "customer_id": int(customer)
        if subject.startswith("customer:") and customer.isdigit()
        else None,
        "details": row.details,
    }


def _id(raw: str, name: str, errors: dict[str, str]) -> int | None:
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID:
        return int(raw)
    errors[name] = "a whole number, such as 42"
    return None


def _date(raw: str, name: str, errors: dict[str, str]) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors[name] = "a date such as 2026-12-31"
        return None


def _start(day: dt.date, timezone: ZoneInfo) -> dt.datetime:
    """Midnight at the start of ``day`` in the shop's zone, as an aware UTC instant."""
    return dt.datetime.combine(day, dt.time(), timezone).astimezone(dt.UTC)
