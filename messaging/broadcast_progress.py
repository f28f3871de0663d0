"""A broadcast as stored and where its messages are: plain copies safe to use after their
session has closed, and the outbox counts they are read from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from messaging.broadcast_status import IN_FLIGHT
from store.models import Broadcast, BroadcastStatus, OutboxMessage, OutboxStatus


@dataclass(frozen=True, slots=True)
class BroadcastInfo:
    """A broadcast as stored (a plain copy: safe to use after its session has closed)."""

    id: int
    status: BroadcastStatus
    created_by: str
    created_at: dt.datetime
    idempotency_key: str
    filters: dict[str, Any]
    template: str | None
    text: str | None
    translations: dict[str, str]
    send_at: dt.datetime | None
    counts: dict[str, Any]
    cursor_customer_id: int
    queued_at: dt.datetime | None
    finished_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    cancelled_by: str | None

    @classmethod
    def of(cls, b: Broadcast) -> BroadcastInfo:
        return cls(
            b.id,
            b.status,
            b.created_by,
            b.created_at,
            b.idempotency_key,
            dict(b.filters),
            b.template,
            b.text,
            dict(b.translations or {}),
            b.send_at,
            dict(b.counts),
            b.cursor_customer_id,
            b.queued_at,
            b.finished_at,
            b.cancelled_at,
            b.cancelled_by,
        )

    def to_json(self) -> dict[str, Any]:
        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "status": self.status.value,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "idempotency_key": self.idempotency_key,
            "filters": self.filters,
            "template": self.template,
            "text": self.text,
            "translations": self.translations,
            "send_at": iso(self.send_at),
            "counts": self.counts,
            "queued_at": iso(self.queued_at),
            "finished_at": iso(self.finished_at),
            "cancelled_at": iso(self.cancelled_at),
            "cancelled_by": self.cancelled_by,
        }


@dataclass(frozen=True, slots=True)
class BroadcastProgress:
    """Where a broadcast's messages are, from its outbox rows."""

    broadcast: BroadcastInfo
    by_status: dict[str, int]

    @classmethod
    def of(cls, session: Session, broadcast: Broadcast) -> BroadcastProgress:
        return cls(BroadcastInfo.of(broadcast), status_counts(session, broadcast.id))

    @property
    def queued(self) -> int:
        return sum(self.by_status.values())

    @property
    def pending(self) -> int:
        return sum(self.by_status.get(s.value, 0) for s in IN_FLIGHT)

    @property
    def percent_done(self) -> float:
        if self.broadcast.status == BroadcastStatus.QUEUEING:
            return 0.0
        if self.queued == 0:
            return 100.0
        return round(100.0 * (self.queued - self.pending) / self.queued, 1)

    def to_json(self) -> dict[str, Any]:
        count = self.by_status.get
        return {
            **self.broadcast.to_json(),
            "progress": {
                "queued": self.queued,
                "pending": self.pending,
                "sent": count(OutboxStatus.SENT.value, 0),
                "delivered": count(OutboxStatus.DELIVERED.value, 0),
                "undelivered": count(OutboxStatus.UNDELIVERED.value, 0),
                "failed": count(OutboxStatus.FAILED.value, 0),
                "skipped": count(OutboxStatus.SKIPPED.value, 0),
                "unknown": count(OutboxStatus.UNKNOWN.value, 0),
                "skipped_when_queued": self.broadcast.counts.get("skipped", {}),
                "percent_done": self.percent_done,
            },
        }


def status_counts(session: Session, broadcast_id: int) -> dict[str, int]:
    """The broadcast's outbox rows counted by status."""
    rows = session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.broadcast_id == broadcast_id)
        .group_by(OutboxMessage.status)
    )
    return {OutboxStatus(status).value: int(n) for status, n in rows}


def has_in_flight(session: Session, broadcast_id: int) -> bool:
    """Whether a dispatcher may still send one of the broadcast's rows."""
    return (
        session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.broadcast_id == broadcast_id,
                OutboxMessage.status.in_(list(IN_FLIGHT)),
            )
            .limit(1)
        ).first()
        is not None
    )
