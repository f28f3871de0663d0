"""The outbox's tables, limits and the rows handed in and out (``messaging.outbox`` and its parts).

Kept apart so that queueing (``messaging.outbox_enqueue``), the dispatcher's outcomes
(``messaging.outbox_outcomes``) and the claim (``messaging.outbox``) share them without
importing one another.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table

from store.models import (
    Channel,
    DeliveryAttempt,
    OutboxMessage,
    OutboxStatus,
    ReachState,
)

# Core table for executemany UPDATEs: given a list of parameter sets, an ORM ``update(Model)``
# becomes a bulk update by primary key and ignores our WHERE clause.
OUTBOX = cast(Table, OutboxMessage.__table__)
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)

# A claim handed back before its request left: pending again, and the attempt not counted.
_UNCLAIMED = {
    "status": OutboxStatus.PENDING,
    "claimed_by": None,
    "lease_expires_at": None,
    "attempts": OUTBOX.c.attempts - 1,
}

MAX_ATTEMPTS = 8
RECONCILE_AFTER = dt.timedelta(seconds=60)
BACKOFF_BASE = dt.timedelta(seconds=2)
BACKOFF_CAP = dt.timedelta(minutes=15)

# Forward-only: a status callback or a late outcome never moves a row back.
OUTBOX_RANK = {
    OutboxStatus.PENDING: 0,
    OutboxStatus.CLAIMED: 1,
    OutboxStatus.SENDING: 2,
    OutboxStatus.UNKNOWN: 3,
    OutboxStatus.SENT: 4,
    OutboxStatus.DELIVERED: 5,
    OutboxStatus.UNDELIVERED: 5,
    OutboxStatus.FAILED: 5,
    OutboxStatus.SKIPPED: 5,
}

# Customer state changes caused by permanent provider errors (SendError.reason values).
UNREACHABLE_REASONS: dict[str, tuple[Channel, ReachState]] = {
    "telegram_blocked": (Channel.TELEGRAM, ReachState.UNREACHABLE),
    "telegram_user_deactivated": (Channel.TELEGRAM, ReachState.UNREACHABLE),
    "telegram_chat_not_found": (Channel.TELEGRAM, ReachState.UNREACHABLE),
    "telegram_forbidden": (Channel.TELEGRAM, ReachState.UNREACHABLE),
    "sms_opted_out": (Channel.SMS, ReachState.OPTED_OUT),
    "sms_invalid_number": (Channel.SMS, ReachState.INVALID),
}


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """What the notifier or a broadcast hands to ``enqueue``."""

    dedupe_key: str
    customer_id: int | None  # None: a supplier's e-mail (``supplier_id``)
    channel: Channel
    address: str
    message: str
    locale: str
    body: str
    buttons: list[list[str]] | None = None
    event_id: int | None = None
    broadcast_id: int | None = None
    urgent: bool = False
    due_at: dt.datetime | None = None
    supplier_id: int | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a worker now holds, with what it needs to send it."""

    id: int
    customer_id: int | None
    channel: Channel
    address: str
    body: str
    buttons: list[list[str]] | None
    attempt: int
    message: str
    urgent: bool = False  # a confirmation of the customer's own choice: exempt from quiet hours
