"""Broadcasts: one agent's message to an audience, previewed, queued once, throttled, cancellable.

Every interface (JSON API, CLI, dashboard, Telegram agent commands) goes through
:class:`BroadcastService`: ``preview`` (a dry run), ``create`` (validated and recorded, nothing
queued yet), ``queue`` (write the outbox rows), ``progress``, ``cancel``.

Safe by construction:

- **One message per customer per broadcast.** Each outbox row's ``dedupe_key`` is
  ``broadcast:<id>:customer:<id>`` (unique, inserted with ON CONFLICT DO NOTHING), and a
  broadcast is found again by its ``idempotency_key`` (the client's, or a hash of who + audience
  + content + send time within ``DUPLICATE_WINDOW``): a double submit returns the first one.
- **Resumable.** The audience is streamed in customer-id order and queued in batches
  (``messaging.broadcast_queueing``); each batch commits its rows together with the broadcast's
  cursor (the last customer queued) and running counts, guarded by the cursor's old value. A
  crash loses at most the batch in flight; ``queue`` (or ``resume_interrupted``, run by
  ``backorder-bot sweep``) continues after the cursor, and two processes queueing the same
  broadcast cannot both advance it.
- **Bounded memory.** Only one batch (``BATCH_SIZE`` customers) is held at a time.
- **Throttled and polite.** A broadcast only writes rows; the dispatcher sends them within the
  providers' rate limits and checks opt-outs and quiet hours again at send time. A scheduled
  broadcast's rows are due at ``send_at``.
- **Audited.** Creation, queueing and cancelling are written to the audit log with the filters,
  text and counts.

The parts, one job each: ``broadcast_request`` (the request and its checks), ``broadcast_content``
(the text), ``broadcast_audience`` (who gets what, the counts), ``broadcast_queueing`` (the outbox
rows), ``broadcast_progress`` and ``broadcast_status`` (where the messages are).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from messaging.broadcast_audience import (
    Planned,
    Planner,
    Preview,
    Sample,
    Tally,
    count,
    route,
    sample,
)
from messaging.broadcast_content import Content, compile_content
from messaging.broadcast_limits import PREVIEW_RENDER_SECONDS, RenderTimer, sample_sms_segments
from messaging.broadcast_progress import (
    BroadcastInfo,
    BroadcastProgress,
    has_in_flight,
    status_counts,
)
from messaging.broadcast_queueing import BATCH_SIZE, BroadcastQueuer, Progress
from messaging.broadcast_request import (
    DUPLICATE_WINDOW,
    BroadcastRequest,
    auto_key,
    check_send_at,
    content_hash,
)
from messaging.broadcast_status import IN_FLIGHT, current_status, in_flight_counts
from messaging.notifier import ShopVoice
from messaging.quiet_hours import QuietHours
from store import audience, audit
from store.db import Database
from store.errors import Conflict, NotFound
from store.models import Broadcast, BroadcastStatus, OutboxMessage, OutboxStatus, utcnow

# The names the interfaces import from here; each lives in the module that does its one job.
__all__ = [
    "BATCH_SIZE",
    "CANCELLED_REASON",
    "DUPLICATE_WINDOW",
    "STALE_QUEUEING",
    "BroadcastInfo",
    "BroadcastProgress",
    "BroadcastRequest",
    "BroadcastService",
    "Planned",
    "Preview",
    "Progress",
    "Sample",
    "Tally",
    "route",
]

# A broadcast still "queueing" with no batch committed for this long lost its process.
STALE_QUEUEING = dt.timedelta(minutes=2)
CANCELLED_REASON = "broadcast_cancelled"


class BroadcastService:
    """The broadcast operations on one database, for every interface."""

    def __init__(
        self,
        db: Database,
        voice: ShopVoice,
        quiet_hours: QuietHours,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._db = db
        self._voice = voice
        self._clock = clock
        self._batch_size = batch_size
        self._planner = Planner(voice, quiet_hours)
        self._queuer = BroadcastQueuer(db, self._planner, clock, batch_size)

    # ---- preview ----

    def preview(self, request: BroadcastRequest, *, samples_per_pair: int = 1) -> Preview:
        """Count and render without writing; raises ``ContentError`` for unusable content."""
        content = compile_content(request.template, request.text, request.translations)
        now = self._clock()
        send_at = check_send_at(request.send_at, now)
        tally = Tally()
        samples: dict[tuple[str, str], list[Sample]] = {}
        timer = RenderTimer(PREVIEW_RENDER_SECONDS)
        with (
            self._db.read_session() as session,
            closing(
                audience.stream(session, request.filters, now, chunk=self._batch_size)
            ) as chunks,
        ):
            for chunk in chunks:
                plan = self._planner.plan(chunk, content, request.filters, send_at or now, timer)
                for row, planned in plan:
                    count(tally, row, planned)
                    if isinstance(planned, str):
                        continue
                    taken = samples.setdefault((row.locale, planned.channel.value), [])
                    if len(taken) < samples_per_pair:
                        taken.append(sample(row.locale, planned.channel, planned.rendered.text))
        ordered = [s for key in sorted(samples) for s in samples[key]]
        return Preview(tally, ordered, send_at)

    def sms_segments(self, request: BroadcastRequest) -> int:
        """The segments of a sample customer's SMS (no audience read); ``ContentError`` for
        unusable content."""
        content = compile_content(request.template, request.text, request.translations)
        return sample_sms_segments(content, self._voice)

    # ---- create, queue ----

    def create(self, request: BroadcastRequest) -> tuple[BroadcastInfo, bool]:
        """Record a broadcast (nothing queued yet); ``(existing, False)`` for a repeat.

        Raises ``ContentError`` for unusable content or a past ``send_at``, and ``Conflict``
        when a client idempotency key was used for other content.
        """
        content = compile_content(request.template, request.text, request.translations)
        now = self._clock()
        send_at = check_send_at(request.send_at, now)
        digest = content_hash(request, content, send_at)
        with self._db.session() as session:
            existing = self._find_repeat(session, request, digest, now)
            if existing is not None:
                return BroadcastInfo.of(existing), False
            key = (
                f"key:{request.idempotency_key}"
                if request.idempotency_key
                else auto_key(digest, now)
            )
            return self._insert(session, request, content, key, digest, send_at, now)

    def _insert(
        self,
        session: Session,
        request: BroadcastRequest,
        content: Content,
        key: str,
        digest: str,
        send_at: dt.datetime | None,
        now: dt.datetime,
    ) -> tuple[BroadcastInfo, bool]:
        """Record a new broadcast under ``key``; the first one's when a submit raced us."""
        broadcast = Broadcast(
            idempotency_key=key,
            content_hash=digest,
            created_by=request.created_by,
            created_at=now,
            updated_at=now,
            filters=request.filters.to_json(),
            template=content.template,
            text=content.text,
            translations=dict(content.translations) or None,
            status=BroadcastStatus.QUEUEING,
            send_at=send_at,
            cursor_customer_id=0,
            counts={},
        )
        try:
            with session.begin_nested():
                session.add(broadcast)
        except IntegrityError:
            # The same submit raced us to the unique key: theirs is the broadcast.
            raced = session.scalars(select(Broadcast).where(Broadcast.idempotency_key == key)).one()
            if raced.content_hash != digest:
                raise Conflict(
                    f"idempotency key {request.idempotency_key!r} was used for another broadcast"
                ) from None
            return BroadcastInfo.of(raced), False
        audit.record(
            session,
            request.created_by,
            "broadcast.created",
            subject=f"broadcast:{broadcast.id}",
            now=now,
            filters=broadcast.filters,
            template=broadcast.template,
            text=broadcast.text,
            translations=broadcast.translations,
            send_at=send_at,
        )
        return BroadcastInfo.of(broadcast), True

    def _find_repeat(
        self, session: Session, request: BroadcastRequest, digest: str, now: dt.datetime
    ) -> Broadcast | None:
        if request.idempotency_key:
            found = session.scalars(
                select(Broadcast).where(
                    Broadcast.idempotency_key == f"key:{request.idempotency_key}"
                )
            ).first()
            if found is not None and found.content_hash != digest:
                raise Conflict(
                    f"idempotency key {request.idempotency_key!r} was used for another broadcast"
                )
            return found
        return session.scalars(
            select(Broadcast)
            .where(Broadcast.content_hash == digest, Broadcast.created_at >= now - DUPLICATE_WINDOW)
            .order_by(Broadcast.id.desc())
            .limit(1)
        ).first()

    def submit(
        self, request: BroadcastRequest, progress: Progress | None = None
    ) -> tuple[BroadcastInfo, bool]:
        """``create`` then ``queue`` (a repeat of an interrupted broadcast resumes it)."""
        info, created = self.create(request)
        return self.queue(info.id, progress), created

    def queue(self, broadcast_id: int, progress: Progress | None = None) -> BroadcastInfo:
        """Write the broadcast's outbox rows, resuming after its cursor; idempotent.

        Returns at once for a broadcast that is no longer ``queueing``. Stops without error when
        another process advanced or cancelled it meanwhile.
        """
        info = self.get(broadcast_id)
        if info.status != BroadcastStatus.QUEUEING:
            return info
        self._queuer.run(info, progress)
        return self.get(broadcast_id)

    def resume_interrupted(self, stale_after: dt.timedelta = STALE_QUEUEING) -> list[int]:
        """Finish queueing broadcasts whose process died (no batch for ``stale_after``)."""
        cutoff = self._clock() - stale_after
        with self._db.read_session() as session:
            ids = session.scalars(
                select(Broadcast.id).where(
                    Broadcast.status == BroadcastStatus.QUEUEING, Broadcast.updated_at < cutoff
                )
            ).all()
        for broadcast_id in ids:
            self.queue(broadcast_id)
        return list(ids)

    # ---- reading, cancelling ----

    def get(self, broadcast_id: int) -> BroadcastInfo:
        with self._db.read_session() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None:
                raise NotFound(f"broadcast {broadcast_id} does not exist")
            return BroadcastInfo.of(broadcast)

    def recent(self, limit: int = 50) -> list[BroadcastInfo]:
        """Newest first, each with its status as it is now (not as last written)."""
        with self._db.read_session() as session:
            rows = session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit))
            infos = [BroadcastInfo.of(b) for b in rows]
            flying = in_flight_counts(session, [b.id for b in infos])
        now = self._clock()
        return [
            replace(b, status=current_status(b.status, b.send_at, flying.get(b.id, 0), now))
            for b in infos
        ]

    def progress(self, broadcast_id: int) -> BroadcastProgress:
        """Counts by outbox status; a broadcast with nothing left to send becomes ``done``."""
        info = self.get(broadcast_id)
        with self._db.read_session() as session:
            by_status = status_counts(session, broadcast_id)
        now = self._clock()
        flying = sum(by_status.get(s.value, 0) for s in IN_FLIGHT)
        status = current_status(info.status, info.send_at, flying, now)
        if status != info.status:
            info = self._advance(info, status, now)
        return BroadcastProgress(info, by_status)

    def _advance(
        self, info: BroadcastInfo, status: BroadcastStatus, now: dt.datetime
    ) -> BroadcastInfo:
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if status == BroadcastStatus.DONE:
            values["finished_at"] = now
        with self._db.session() as session:
            session.execute(
                update(Broadcast)
                .where(Broadcast.id == info.id, Broadcast.status == info.status)
                .values(values)
                .execution_options(synchronize_session=False)
            )
        return self.get(info.id)

    def cancel(self, broadcast_id: int, actor: str) -> BroadcastProgress:
        """Stop a broadcast: rows not yet handed to a provider are ``skipped``.

        Rows already ``sending`` may still arrive. Queueing in progress stops at its next batch.
        Cancelling twice is harmless; cancelling a finished broadcast is a ``Conflict``.
        """
        now = self._clock()
        with self._db.session() as session:
            # Lock the broadcast first: a concurrent batch then either committed before us (its
            # rows are cancelled below) or fails its guarded cursor update and rolls back.
            broadcast = session.scalars(
                select(Broadcast).where(Broadcast.id == broadcast_id).with_for_update()
            ).first()
            if broadcast is None:
                raise NotFound(f"broadcast {broadcast_id} does not exist")
            if broadcast.status == BroadcastStatus.CANCELLED:
                return BroadcastProgress.of(session, broadcast)
            if broadcast.status == BroadcastStatus.DONE or (
                broadcast.status == BroadcastStatus.SENDING
                and not has_in_flight(session, broadcast_id)
            ):
                raise Conflict(f"broadcast {broadcast_id} has finished; nothing to cancel")
            broadcast.status = BroadcastStatus.CANCELLED
            broadcast.cancelled_at = broadcast.updated_at = now
            broadcast.cancelled_by = actor
            session.flush()
            # Claimed rows are safe to skip: a worker sends only rows it still holds as claimed.
            stopped = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.broadcast_id == broadcast_id,
                    OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.CLAIMED]),
                )
                .values(
                    status=OutboxStatus.SKIPPED,
                    last_error=CANCELLED_REASON,
                    finished_at=now,
                    lease_expires_at=None,
                )
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            audit.record(
                session,
                actor,
                "broadcast.cancelled",
                subject=f"broadcast:{broadcast_id}",
                now=now,
                messages_stopped=int(stopped),
            )
            return BroadcastProgress.of(session, broadcast)
