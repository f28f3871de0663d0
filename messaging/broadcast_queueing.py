"""Writing a broadcast's outbox rows: resumable, in bounded batches, one transaction each.

The audience is streamed in customer-id order; each batch commits its rows together with the
broadcast's cursor (the last customer queued) and running counts, guarded by the cursor's old
value (:func:`move_queueing`). A crash loses at most the batch in flight, and two processes
queueing the same broadcast cannot both advance it. Each row's ``dedupe_key`` is
``broadcast:<id>:customer:<id>`` (unique, inserted with ON CONFLICT DO NOTHING): one message per
customer per broadcast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import closing
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from messaging.broadcast_audience import Planner, Tally, count
from messaging.broadcast_content import Content, compile_content
from messaging.broadcast_progress import BroadcastInfo
from messaging.outbox import QueuedMessage, enqueue
from store import audience, audit
from store.audience import AudienceFilter, AudienceRow
from store.db import Database
from store.models import Broadcast, BroadcastStatus, OutboxMessage

BATCH_SIZE = 5_000

Progress = Callable[[int], None]
"""Called with the number of customers handled by each committed batch."""


class Preempted(Exception):
    """Another process advanced or cancelled the broadcast: this one stops queueing it."""


class BroadcastQueuer:
    """Queues broadcasts that are ``queueing``, from their cursor on."""

    def __init__(
        self,
        db: Database,
        planner: Planner,
        clock: Callable[[], dt.datetime],
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._db = db
        self._planner = planner
        self._clock = clock
        self._batch_size = batch_size

    def run(self, info: BroadcastInfo, progress: Progress | None = None) -> None:
        """Queue the rest of a ``queueing`` broadcast and move it on; returns quietly when
        another process advanced or cancelled it meanwhile."""
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
        except Preempted:
            return
        self._finish(info, cursor, tally)

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
        for row, planned in self._planner.plan(chunk, content, filters, max(due, now)):
            count(batch, row, planned)
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
            if not move_queueing(
                session,
                info.id,
                cursor,
                cursor_customer_id=new_cursor,
                counts=batch.to_json(),
                updated_at=now,
            ):
                raise Preempted
        tally.matched, tally.quiet_hours_deferred = batch.matched, batch.quiet_hours_deferred
        tally.by_channel, tally.by_locale, tally.skipped = (
            batch.by_channel,
            batch.by_locale,
            batch.skipped,
        )
        return new_cursor

    def _finish(self, info: BroadcastInfo, cursor: int, tally: Tally) -> None:
        """Move the broadcast on to ``scheduled`` or ``sending``, with its final counts."""
        now = self._clock()
        scheduled = info.send_at is not None and info.send_at > now
        status = BroadcastStatus.SCHEDULED if scheduled else BroadcastStatus.SENDING
        with self._db.session() as session:
            queued = _row_count(session, info.id)
            counts = {**tally.to_json(), "queued": queued}
            moved = move_queueing(
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


def move_queueing(session: Session, broadcast_id: int, cursor: int, **values: Any) -> bool:
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


def _row_count(session: Session, broadcast_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.broadcast_id == broadcast_id)
        )
        or 0
    )
