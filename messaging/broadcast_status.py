"""A broadcast's status as it is now, computed from its outbox rows rather than the stored one.

The stored status moves from ``sending`` to ``done`` only when something writes it (opening the
progress page did): a list of broadcasts read from the table showed a finished broadcast as
"sending" until then. Every reader goes through :func:`current_status` instead, so the list,
the progress page and the API agree without anyone having to look first.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import BroadcastStatus, OutboxMessage, OutboxStatus

# Statuses of rows a dispatcher may still send.
IN_FLIGHT = (OutboxStatus.PENDING, OutboxStatus.CLAIMED, OutboxStatus.SENDING)


def current_status(
    stored: BroadcastStatus, send_at: dt.datetime | None, in_flight: int, now: dt.datetime
) -> BroadcastStatus:
    """Scheduled and past its time: sending; sending with nothing in flight: done."""
    status = stored
    if status == BroadcastStatus.SCHEDULED and send_at is not None and send_at <= now:
        status = BroadcastStatus.SENDING
    if status == BroadcastStatus.SENDING and in_flight == 0:
        status = BroadcastStatus.DONE
    return status


def in_flight_counts(session: Session, broadcast_ids: list[int]) -> dict[int, int]:
    """Messages not yet handed to a provider, per broadcast (one grouped query for a list)."""
    if not broadcast_ids:
        return {}
    rows = session.execute(
        select(OutboxMessage.broadcast_id, func.count())
        .where(
            OutboxMessage.broadcast_id.in_(broadcast_ids),
            OutboxMessage.status.in_(list(IN_FLIGHT)),
        )
        .group_by(OutboxMessage.broadcast_id)
    )
    return {int(broadcast_id or 0): int(n) for broadcast_id, n in rows}
