"""Delivery reports: what a provider says became of a message after it took it.

Twilio posts one status callback per change (``bot/web/twilio_status.py``). A report moves its
outbox row forward only (``OUTBOX_RANK``): reports arrive out of order, and a late ``sent``
must not undo ``delivered``.

A report can come before its row carries the provider's id. The dispatcher writes down the
``MessageSid`` its API call returned together with a group of other outcomes, so a fast carrier
can report ``sent`` or even ``delivered`` first; and a send whose answer was lost has no id
until reconciliation finds it. Such a report is *held* (``held_status_reports``) and applied by
the dispatcher's housekeeping once the id appears (:func:`apply_held_reports`); one that never
matches (a message some other system sent from the same account) is forgotten after
:data:`HOLD_FOR`.

An ``undelivered`` or ``failed`` report whose error code says the number cannot take SMS
changes the customer's SMS state, as the same answer at send time would. Only an ``active``
state changes: a STOP is never overwritten by a lesser reason. Either one is filed in the
agents' inbox with the report (``store.inbox.file_delivery_failures``), once per message.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from messaging.outbox import OUTBOX_RANK
from store.db import upsert_insert
from store.inbox import file_delivery_failures
from store.models import (
    Channel,
    Customer,
    HeldStatusReport,
    OutboxMessage,
    OutboxStatus,
    ReachState,
)

__all__ = [
    "HOLD_FOR",
    "REACH_BY_ERROR_CODE",
    "TWILIO_STATUS",
    "ReportResult",
    "apply_held_reports",
    "apply_report",
]

# Twilio's MessageStatus values, mapped to ours. "queued"/"accepted"/"sending" mean it is at
# Twilio and not yet at the carrier: that is our "sent".
TWILIO_STATUS = {
    "accepted": OutboxStatus.SENT,
    "scheduled": OutboxStatus.SENT,
    "queued": OutboxStatus.SENT,
    "sending": OutboxStatus.SENT,
    "sent": OutboxStatus.SENT,
    "delivered": OutboxStatus.DELIVERED,
    "read": OutboxStatus.DELIVERED,
    "undelivered": OutboxStatus.UNDELIVERED,
    "failed": OutboxStatus.FAILED,
    "canceled": OutboxStatus.FAILED,
}

# Error codes in Twilio's status callbacks that say this number will not take SMS from us
# (https://www.twilio.com/docs/api/errors). Carrier filtering (30007), an unreachable handset
# (30003, often a phone switched off) and unknown errors say nothing lasting about the number.
REACH_BY_ERROR_CODE = {
    "21610": ReachState.OPTED_OUT,  # the recipient unsubscribed (STOP)
    "30005": ReachState.INVALID,  # unknown destination handset: the number does not exist
    "30006": ReachState.INVALID,  # a landline, or a carrier that does not take SMS
}

HOLD_FOR = dt.timedelta(days=1)
_FINAL_FAILURES = (OutboxStatus.UNDELIVERED, OutboxStatus.FAILED)


class ReportResult(StrEnum):
    """What a report did (also the webhook metric's outcome)."""

    APPLIED = "applied"  # the row moved forward
    UNCHANGED = "unchanged"  # the row was already as far or further
    HELD = "held"  # no row carries this id yet


def apply_report(
    session: Session,
    provider_id: str,
    status: OutboxStatus,
    now: dt.datetime,
    error: str | None = None,
) -> ReportResult:
    """Apply one delivery report to the row with ``provider_id``, or hold it for later."""
    row = session.scalars(
        select(OutboxMessage).where(OutboxMessage.provider_id == provider_id).with_for_update()
    ).first()
    if row is None:
        _hold(session, provider_id, status, error, now)
        return ReportResult.HELD
    return (
        ReportResult.APPLIED if _move(session, row, status, error, now) else ReportResult.UNCHANGED
    )


def apply_held_reports(session: Session, now: dt.datetime) -> tuple[int, int]:
    """Apply held reports whose id a row now carries; forget those older than ``HOLD_FOR``.

    Returns ``(applied, forgotten)``. Run by the dispatcher's housekeeping.
    """
    matched = session.execute(
        select(HeldStatusReport, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.provider_id == HeldStatusReport.provider_id)
        .order_by(HeldStatusReport.provider_id)  # one lock order for concurrent housekeepers
        .with_for_update()
    ).all()
    for held, row in matched:
        _move(session, row, held.status, held.error, now)
        session.delete(held)
    forgotten = session.execute(
        delete(HeldStatusReport)
        .where(HeldStatusReport.received_at < now - HOLD_FOR)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return len(matched), int(forgotten)


def _move(
    session: Session,
    row: OutboxMessage,
    status: OutboxStatus,
    error: str | None,
    now: dt.datetime,
) -> bool:
    if OUTBOX_RANK[status] <= OUTBOX_RANK[row.status]:
        return False
    row.status = status
    if status != OutboxStatus.SENT:
        row.finished_at = now
    if error:
        row.last_error = error[:300]
    if status in _FINAL_FAILURES:
        # Filed for an agent now, with the report; the INSERT below reads the row's status.
        session.flush()
        file_delivery_failures(session, now, [row.id])
    reach = REACH_BY_ERROR_CODE.get(error or "") if status in _FINAL_FAILURES else None
    if reach is not None and row.channel is Channel.SMS:
        session.execute(
            update(Customer)
            .where(Customer.id == row.customer_id, Customer.sms_state == ReachState.ACTIVE)
            .values(sms_state=reach, sms_state_changed_at=now)
            .execution_options(synchronize_session=False)
        )
    return True


def _hold(
    session: Session,
    provider_id: str,
    status: OutboxStatus,
    error: str | None,
    now: dt.datetime,
) -> None:
    """Keep the furthest report per id; two callbacks for one id may race here."""
    session.execute(
        upsert_insert(session, HeldStatusReport)
        .values(provider_id=provider_id, status=status, error=error, received_at=now)
        .on_conflict_do_nothing(index_elements=["provider_id"])
    )
    held = session.get(HeldStatusReport, provider_id, with_for_update=True, populate_existing=True)
    if held is not None and OUTBOX_RANK[status] > OUTBOX_RANK[held.status]:
        held.status = status
        held.error = error
