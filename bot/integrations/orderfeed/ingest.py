"""Each feed event applied exactly once, or recorded as refused or stale with the reason.

One short transaction per event, like the Shopify webhooks (``bot.integrations.shopify.ingest``).
It starts by claiming the event id: ``INSERT ... ON CONFLICT DO NOTHING`` on the unique
``order_feed_events.event_id``. No row back means another delivery of the same event committed
first, and this one does nothing. Five deliveries at once: on PostgreSQL the others' inserts
wait on the unique index until the first commits, then conflict; on SQLite writers take turns
(``BEGIN IMMEDIATE``). Either way one applies it.

Then the products the event touches are locked (``apply.lock``) and its ``occurred_at`` is
compared with the newest event applied to the same order or SKU: an older one is stale and
changes nothing. The event's work runs in a savepoint: a refusal rolls it back, so nothing is
half-written, and the claim row keeps the outcome and the reason. Anything else (the database
failing) rolls back everything, claim included, so the sender's retry applies it later.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from pydantic import BaseModel
from sqlalchemy import Table, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.integrations.orderfeed import apply
from bot.integrations.orderfeed.shape import Event, Raw, read_event
from store.db import Database, upsert_insert
from store.errors import StoreError
from store.models import utcnow
from store.tables_orderfeed import FeedEvent, FeedOutcome

__all__ = ["FeedIngest", "Result", "refused_events"]

logger = logging.getLogger(__name__)
MAX_REASON = 500
INTEGRITY_ATTEMPTS = 3
# How far ahead of our clock a sender's ``occurred_at`` may be (clocks drift; days do not).
MAX_AHEAD = dt.timedelta(hours=1)
_TABLE = cast(Table, FeedEvent.__table__)


class Result(BaseModel):
    """What became of one event, as the answer lists it."""

    id: str
    outcome: str  # applied | duplicate | stale | refused
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class _Done:
    outcome: FeedOutcome
    reason: str | None = None


class _Duplicate(Exception):
    pass


class FeedIngest:
    """Applies verified feed events to one database."""

    def __init__(
        self, db: Database, config: apply.Config, *, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self._db = db
        self._config = config
        self._clock = clock

    def handle(self, raw: Raw) -> Result:
        """Apply the event unless a delivery of it already was; say what became of it."""
        now = self._clock()
        try:
            event: Event | None = read_event(raw)
            unreadable = None
        except ValueError as exc:
            event, unreadable = None, f"unreadable event: {exc}"

        def work(session: Session) -> _Done:
            if not _claim(session, raw, event, now):
                raise _Duplicate
            done = _Done(FeedOutcome.REFUSED, unreadable)
            if event is not None:
                done = self._apply(session, raw.id, event, now)
            reason = done.reason[:MAX_REASON] if done.reason else None
            session.execute(
                update(_TABLE)
                .where(_TABLE.c.event_id == raw.id)
                .values(outcome=done.outcome, reason=reason)
            )
            return done

        for attempt in range(INTEGRITY_ATTEMPTS):
            try:
                done = self._db.transaction(work)
                break
            except _Duplicate:
                return Result(id=raw.id, outcome="duplicate")
            except IntegrityError:
                # Another event created the same new customer first: all was rolled back, and
                # the next attempt finds their row.
                if attempt + 1 == INTEGRITY_ATTEMPTS:
                    raise
        if done.outcome is FeedOutcome.REFUSED:
            logger.warning("order feed event %s refused: %s", raw.id, done.reason)
        return Result(id=raw.id, outcome=done.outcome.value, reason=done.reason)

    def _apply(self, session: Session, event_id: str, event: Event, now: dt.datetime) -> _Done:
        if event.occurred_at > now + MAX_AHEAD:
            # Taken as is, it would make every later event about the same order or SKU stale.
            return _Done(FeedOutcome.REFUSED, "occurred_at is in the future (check the clock)")
        try:
            with session.begin_nested():
                apply.lock(session, event)
                newest = _newest(session, apply.resource_of(event), event_id)
                if newest is not None and event.occurred_at < newest:
                    held = newest.isoformat()
                    return _Done(FeedOutcome.STALE, f"older than what we hold ({held})")
                note = apply.HANDLERS[type(event)](session, event, self._config, now)
                return _Done(FeedOutcome.APPLIED, note)
        except (apply.Refused, StoreError) as exc:
            return _Done(FeedOutcome.REFUSED, str(exc))


def _claim(session: Session, raw: Raw, event: Event | None, now: dt.datetime) -> bool:
    statement = (
        upsert_insert(session, _TABLE)
        .values(
            event_id=raw.id,
            type=raw.type[:32],
            resource=apply.resource_of(event)[:100] if event is not None else None,
            occurred_at=event.occurred_at.astimezone(dt.UTC) if event is not None else None,
            # Provisional, overwritten before commit: nobody else sees the row until then.
            outcome=FeedOutcome.REFUSED,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(_TABLE.c.id)
    )
    return session.execute(statement).scalar() is not None


def _newest(session: Session, resource: str, event_id: str) -> dt.datetime | None:
    """When the newest event applied to ``resource`` happened (this one aside)."""
    return session.scalar(
        select(func.max(FeedEvent.occurred_at)).where(
            FeedEvent.resource == resource,
            FeedEvent.outcome == FeedOutcome.APPLIED,
            FeedEvent.event_id != event_id,
        )
    )


def refused_events(db: Database, *, limit: int = 100) -> list[FeedEvent]:
    """The latest refused events, newest first: what the shop must look at."""
    with db.read_session() as session:
        return list(
            session.scalars(
                select(FeedEvent)
                .where(FeedEvent.outcome == FeedOutcome.REFUSED)
                .order_by(FeedEvent.received_at.desc(), FeedEvent.id.desc())
                .limit(limit)
            )
        )
