"""Broadcasts: one agent's message to an audience, previewed, queued once, throttled, cancellable.

Every interface (JSON API, CLI, dashboard, Telegram agent commands) goes through
:class:`BroadcastService`: ``preview`` (a dry run), ``create`` (validated and recorded, nothing
queued yet), ``queue`` (write the outbox rows), ``progress``, ``cancel``.

Safe by construction:

- **One message per customer per broadcast.** Each outbox row's ``dedupe_key`` is
  ``broadcast:<id>:customer:<id>`` (unique, inserted with ON CONFLICT DO NOTHING), and a
  broadcast is found again by its ``idempotency_key`` (the client's, or a hash of who + audience
  + content + send time within ``DUPLICATE_WINDOW``): a double submit returns the first one.
- **Resumable.** The audience is streamed in customer-id order and queued in batches; each
  batch commits its rows together with the broadcast's cursor (the last customer queued) and
  running counts, guarded by the cursor's old value. A crash loses at most the batch in flight;
  ``queue`` (or ``resume_interrupted``, run by ``backorder-bot sweep``) continues after the
  cursor, and two processes queueing the same broadcast cannot both advance it.
- **Bounded memory.** Only one batch (``BATCH_SIZE`` customers) is held at a time.
- **Throttled and polite.** A broadcast only writes rows; the dispatcher sends them within the
  providers' rate limits and checks opt-outs and quiet hours again at send time. A scheduled
  broadcast's rows are due at ``send_at``.
- **Audited.** Creation, queueing and cancelling are written to the audit log with the filters,
  text and counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from jinja2 import TemplateError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from messaging.broadcast_content import Content, ContentError, compile_content
from messaging.broadcast_limits import (
    PREVIEW_RENDER_SECONDS,
    RenderTimer,
    long_sms_warning,
    sample_sms_segments,
)
from messaging.broadcast_status import IN_FLIGHT, current_status, in_flight_counts
from messaging.notifier import ShopVoice
from messaging.outbox import QueuedMessage, enqueue
from messaging.quiet_hours import QuietHours
from messaging.segments import count_segments
from messaging.types import Rendered
from store import audience, audit
from store.audience import AudienceFilter, AudienceRow
from store.db import Database
from store.errors import Conflict, NotFound
from store.models import (
    CUSTOMER_CHANNELS,
    Broadcast,
    BroadcastStatus,
    Channel,
    OutboxMessage,
    OutboxStatus,
    ReachState,
    utcnow,
)

BATCH_SIZE = 5_000
DUPLICATE_WINDOW = dt.timedelta(minutes=10)
# A broadcast still "queueing" with no batch committed for this long lost its process.
STALE_QUEUEING = dt.timedelta(minutes=2)
CANCELLED_REASON = "broadcast_cancelled"

Progress = Callable[[int], None]
"""Called with the number of customers handled by each committed batch."""


@dataclass(frozen=True, slots=True)
class BroadcastRequest:
    """What an agent asks for. Exactly one of ``template`` and ``text``.

    ``translations`` (locale -> text) go with ``text``, which is for every other locale.
    """

    filters: AudienceFilter
    template: str | None = None
    text: str | None = None
    translations: Mapping[str, str] = field(default_factory=dict)
    send_at: dt.datetime | None = None
    idempotency_key: str | None = None
    created_by: str = "api"


@dataclass(slots=True)
class Tally:
    """Counts over an audience: who gets a message, on what, in which language; who not, why."""

    matched: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    by_locale: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    quiet_hours_deferred: int = 0

    @property
    def recipients(self) -> int:
        return sum(self.by_channel.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "recipients": self.recipients,
            "by_channel": dict(self.by_channel),
            "by_locale": dict(self.by_locale),
            "skipped": dict(self.skipped),
            "quiet_hours_deferred": self.quiet_hours_deferred,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        return cls(
            matched=int(data.get("matched", 0)),
            by_channel=Counter(data.get("by_channel", {})),
            by_locale=Counter(data.get("by_locale", {})),
            skipped=Counter(data.get("skipped", {})),
            quiet_hours_deferred=int(data.get("quiet_hours_deferred", 0)),
        )


@dataclass(frozen=True, slots=True)
class Sample:
    """The message one real customer of the audience would get."""

    locale: str
    channel: str
    text: str
    sms_segments: int | None  # None for Telegram
    encoding: str | None


@dataclass(frozen=True, slots=True)
class Preview:
    """A dry run: nothing is written."""

    tally: Tally
    samples: list[Sample]
    send_at: dt.datetime | None

    @property
    def sms_segments(self) -> int:
        """The most SMS segments any sample costs (what one SMS of this broadcast may bill)."""
        return max((s.sms_segments or 0 for s in self.samples), default=0)

    @property
    def warnings(self) -> list[str]:
        """What a person should read before sending (a many-segment SMS)."""
        long_sms = long_sms_warning(self.sms_segments)
        return [long_sms] if long_sms else []

    def to_json(self) -> dict[str, Any]:
        return {
            **self.tally.to_json(),
            "sms_segments": self.sms_segments,
            "warnings": self.warnings,
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "samples": [
                {
                    "locale": s.locale,
                    "channel": s.channel,
                    "text": s.text,
                    "sms_segments": s.sms_segments,
                    "encoding": s.encoding,
                }
                for s in self.samples
            ],
        }


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


class Planned(NamedTuple):
    """What one customer of the audience is sent."""

    channel: Channel
    address: str
    rendered: Rendered
    deferred: bool  # inside the customer's quiet hours at send time: the dispatcher waits


class _Preempted(Exception):
    """Another process advanced or cancelled the broadcast: this one stops queueing it."""


def route(row: AudienceRow, only: Channel | None) -> tuple[Channel, str] | str:
    """The channel and address for this customer, or why there is none.

    Reasons: ``opted_out``, ``unreachable``, ``invalid`` (from the channels the customer has)
    and ``no_channel`` (no phone and no linked Telegram chat, or not the one asked for).
    """
    channels = (
        [only]
        if only is not None
        else [row.preferred_channel] + [c for c in CUSTOMER_CHANNELS if c != row.preferred_channel]
    )
    states: list[ReachState] = []
    for channel in channels:
        if channel == Channel.SMS and row.phone:
            if row.sms_state == ReachState.ACTIVE:
                return channel, row.phone
            states.append(row.sms_state)
        elif channel == Channel.TELEGRAM and row.telegram_chat_id is not None:
            if row.telegram_state == ReachState.ACTIVE:
                return channel, str(row.telegram_chat_id)
            states.append(row.telegram_state)
    for state in (ReachState.OPTED_OUT, ReachState.INVALID, ReachState.UNREACHABLE):
        if state in states:
            return state.value
    return "no_channel"


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
        self._quiet_hours = quiet_hours
        self._clock = clock
        self._batch_size = batch_size

    # ---- preview ----

    def preview(self, request: BroadcastRequest, *, samples_per_pair: int = 1) -> Preview:
        """Count and render without writing; raises ``ContentError`` for unusable content."""
        content = compile_content(request.template, request.text, request.translations)
        now = self._clock()
        send_at = _check_send_at(request.send_at, now)
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
                plan = self._plan(chunk, content, request.filters, send_at or now, timer)
                for row, planned in plan:
                    _count(tally, row, planned)
                    if isinstance(planned, str):
                        continue
                    taken = samples.setdefault((row.locale, planned.channel.value), [])
                    if len(taken) < samples_per_pair:
                        taken.append(_sample(row.locale, planned.channel, planned.rendered.text))
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
        send_at = _check_send_at(request.send_at, now)
        digest = _content_hash(request, content, send_at)
        with self._db.session() as session:
            existing = self._find_repeat(session, request, digest, now)
            if existing is not None:
                return BroadcastInfo.of(existing), False
            window = int(now.timestamp() // DUPLICATE_WINDOW.total_seconds())
            key = (
                f"key:{request.idempotency_key}"
                if request.idempotency_key
                else f"auto:{digest[:48]}:{window}"
            )
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
                raced = session.scalars(
                    select(Broadcast).where(Broadcast.idempotency_key == key)
                ).one()
                if raced.content_hash != digest:
                    raise Conflict(
                        f"idempotency key {request.idempotency_key!r} was used for "
                        "another broadcast"
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
        content = compile_content(info.template, info.text, info.translations)
        filters = AudienceFilter.from_json(info.filters)
        # The audience is judged as of creation, so a resumed run sees the same "waiting N days".
        as_of = info.created_at
        due = info.send_at or as_of
        cursor, tally = info.cursor_customer_id, Tally.from_json(info.counts)
        try:
            with (
                self._db.read_session() as reader,
                closing(
                    audience.stream(
                        reader, filters, as_of, after_customer_id=cursor, chunk=self._batch_size
                    )
                ) as chunks,
            ):
                for chunk in chunks:
                    cursor = self._queue_batch(info, content, filters, chunk, cursor, tally, due)
                    if progress is not None:
                        progress(len(chunk))
        except _Preempted:
            return self.get(broadcast_id)
        return self._finish_queueing(info, cursor, tally)

    def _queue_batch(
        self,
        info: BroadcastInfo,
        content: Content,
        filters: AudienceFilter,
        chunk: Sequence[AudienceRow],
        cursor: int,
        tally: Tally,
        due: dt.datetime,
    ) -> int:
        """Queue one batch with the broadcast's new cursor and counts, in one transaction."""
        now = self._clock()
        batch = Tally.from_json(tally.to_json())
        messages = []
        for row, planned in self._plan(chunk, content, filters, max(due, now)):
            _count(batch, row, planned)
            if isinstance(planned, str):
                continue
            messages.append(
                QueuedMessage(
                    dedupe_key=f"broadcast:{info.id}:customer:{row.customer_id}",
                    customer_id=row.customer_id,
                    channel=planned.channel,
                    address=planned.address,
                    message=content.message,
                    locale=row.locale,
                    body=planned.rendered.text,
                    buttons=[[b.label, b.data] for b in planned.rendered.buttons] or None,
                    broadcast_id=info.id,
                    due_at=due,
                )
            )
        new_cursor = chunk[-1].customer_id
        with self._db.session() as session:
            enqueue(session, messages, now)
            if not _move_queueing(
                session,
                info.id,
                cursor,
                cursor_customer_id=new_cursor,
                counts=batch.to_json(),
                updated_at=now,
            ):
                raise _Preempted
        tally.matched, tally.quiet_hours_deferred = batch.matched, batch.quiet_hours_deferred
        tally.by_channel, tally.by_locale, tally.skipped = (
            batch.by_channel,
            batch.by_locale,
            batch.skipped,
        )
        return new_cursor

    def _finish_queueing(self, info: BroadcastInfo, cursor: int, tally: Tally) -> BroadcastInfo:
        now = self._clock()
        scheduled = info.send_at is not None and info.send_at > now
        status = BroadcastStatus.SCHEDULED if scheduled else BroadcastStatus.SENDING
        with self._db.session() as session:
            queued = _row_count(session, info.id)
            counts = {**tally.to_json(), "queued": queued}
            moved = _move_queueing(
                session,
                info.id,
                cursor,
                status=status,
                counts=counts,
                queued_at=now,
                updated_at=now,
            )
            if moved:
                audit.record(
                    session,
                    info.created_by,
                    "broadcast.queued",
                    subject=f"broadcast:{info.id}",
                    now=now,
                    counts=counts,
                )
        return self.get(info.id)

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
            by_status = _status_counts(session, broadcast_id)
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
                return self._progress_of(session, broadcast)
            if broadcast.status == BroadcastStatus.DONE or (
                broadcast.status == BroadcastStatus.SENDING
                and not _in_flight(session, broadcast_id)
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
            return self._progress_of(session, broadcast)

    def _progress_of(self, session: Session, broadcast: Broadcast) -> BroadcastProgress:
        return BroadcastProgress(BroadcastInfo.of(broadcast), _status_counts(session, broadcast.id))

    # ---- per customer ----

    def _plan(
        self,
        chunk: Sequence[AudienceRow],
        content: Content,
        filters: AudienceFilter,
        send_time: dt.datetime,
        timer: RenderTimer | None = None,
    ) -> list[tuple[AudienceRow, Planned | str]]:
        """Each row with what to send it, or the reason it is skipped; ``timer`` sums the
        rendering time (a preview's, so a costly text is refused before it is queued)."""
        planned: list[tuple[AudienceRow, Planned | str]] = []
        for row in chunk:
            routed = route(row, filters.channel)
            if isinstance(routed, str):
                planned.append((row, routed))
                continue
            if content.for_locale(row.locale).needs_coupon and not row.coupon:
                planned.append((row, "no_coupon"))
                continue
            channel, address = routed
            try:
                with timer or nullcontext():
                    rendered = content.render(row, channel, self._voice)
            except TemplateError:
                planned.append((row, "render_error"))
                continue
            deferred = self._quiet_hours.next_allowed(send_time, row.timezone) is not None
            planned.append((row, Planned(channel, address, rendered, deferred)))
        return planned


def _count(tally: Tally, row: AudienceRow, planned: Planned | str) -> None:
    tally.matched += 1
    if isinstance(planned, str):
        tally.skipped[planned] += 1
        return
    tally.by_channel[planned.channel.value] += 1
    tally.by_locale[row.locale] += 1
    if planned.deferred:
        tally.quiet_hours_deferred += 1


def _sample(locale: str, channel: Channel, text: str) -> Sample:
    if channel != Channel.SMS:
        return Sample(locale, channel.value, text, None, None)
    info = count_segments(text)
    return Sample(locale, channel.value, text, info.segments, info.encoding)


def _check_send_at(send_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """An aware time in the future, or None for "now" (a time a minute past counts as now)."""
    if send_at is None:
        return None
    if send_at.tzinfo is None:
        raise ContentError(
            "send_at", "send_at needs a time zone offset, e.g. 2026-12-01T09:00:00+01:00"
        )
    if send_at < now - dt.timedelta(minutes=1):
        raise ContentError("send_at", "send_at is in the past")
    return send_at.astimezone(dt.UTC) if send_at > now else None


def _move_queueing(session: Session, broadcast_id: int, cursor: int, **values: Any) -> bool:
    """Update a queueing broadcast still at ``cursor``; False when another run got there first
    (the compare-and-set that lets a resumed queueing and a stale one never both write)."""
    moved = session.execute(
        update(Broadcast)
        .where(
            Broadcast.id == broadcast_id,
            Broadcast.status == BroadcastStatus.QUEUEING,
            Broadcast.cursor_customer_id == cursor,
        )
        .values(values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(moved == 1)


def _content_hash(request: BroadcastRequest, content: Content, send_at: dt.datetime | None) -> str:
    payload = {
        "by": request.created_by,
        "filters": request.filters.to_json(),
        "template": content.template,
        "text": content.text,
        "send_at": send_at.isoformat() if send_at else None,
    }
    if content.translations:
        # Only when there are some: digests stored before translations existed still match.
        payload["translations"] = dict(content.translations)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _status_counts(session: Session, broadcast_id: int) -> dict[str, int]:
    rows = session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.broadcast_id == broadcast_id)
        .group_by(OutboxMessage.status)
    )
    return {OutboxStatus(status).value: int(n) for status, n in rows}


def _row_count(session: Session, broadcast_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.broadcast_id == broadcast_id)
        )
        or 0
    )


def _in_flight(session: Session, broadcast_id: int) -> bool:
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
