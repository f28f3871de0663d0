"""The outbox: durable queue of rendered messages, and every state change a message goes through.

Life of a row: ``pending`` -> ``claimed`` (a worker holds a lease; nothing has left) ->
``sending`` (marked just before its request leaves) -> ``sent`` -> ``delivered`` /
``undelivered`` / ``failed``. Side exits: ``skipped`` (opted out or unreachable when its turn
came), ``failed`` (dead letter), ``unknown`` (a worker died with the request in flight).

Why two states before the request: a worker that dies with rows ``claimed`` sent none of them,
so they go back to ``pending``; rows it left ``sending`` may have reached the provider, and
neither Telegram nor Twilio has an idempotency key, so they become ``unknown`` and are
reconciled instead of resent. Work is batched: one claim, one "sending" mark per group of sends,
one commit per group of outcomes; never a commit per message.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, cast

from sqlalchemy import Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from messaging.driver_sql import PreparedMany
from messaging.quiet_hours import QuietHours
from store.db import copy_rows
from store.inbox import file_delivery_failures
from store.models import (
    Channel,
    Customer,
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


@dataclass(frozen=True, slots=True)
class ClaimResult:
    ready: list[Claimed]
    skipped: int
    deferred: int


def claim(
    session: Session,
    *,
    worker: str,
    limit: int,
    now: dt.datetime,
    lease: dt.timedelta,
    quiet_hours: QuietHours,
    channels: Iterable[Channel] | None = None,
) -> ClaimResult:
    """Take up to ``limit`` due rows for this worker, atomically (one UPDATE ... RETURNING).

    On PostgreSQL the candidate rows are locked with SKIP LOCKED, so concurrent workers take
    disjoint batches; on SQLite the session's ``BEGIN IMMEDIATE`` serialises claims. Opt-outs
    and quiet hours are checked here so that rows already held back take no rate-limit turn;
    ``messaging.send_gate`` checks them again when each row's turn comes.
    """
    candidates = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at <= now)
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if channels is not None:
        candidates = candidates.where(OutboxMessage.channel.in_(list(channels)))
    rows = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates.scalar_subquery()))
        .values(
            status=OutboxStatus.CLAIMED,
            claimed_by=worker,
            lease_expires_at=now + lease,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(
            OutboxMessage.id,
            OutboxMessage.customer_id,
            OutboxMessage.channel,
            OutboxMessage.address,
            OutboxMessage.body,
            OutboxMessage.buttons,
            OutboxMessage.attempts,
            OutboxMessage.message,
            OutboxMessage.urgent,
        )
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return ClaimResult([], 0, 0)
    # PostgreSQL returns rows in no particular order; a batch drains slowly (1 SMS/s), so send
    # the oldest first, as they were chosen.
    rows = sorted(rows, key=lambda row: row.id)
    people = reach(session, {row.customer_id for row in rows})
    ready: list[Claimed] = []
    skipped: list[dict[str, Any]] = []
    deferred: list[dict[str, Any]] = []
    for row in rows:
        state, timezone = people.get(row.customer_id, NOT_A_CUSTOMER)
        channel = Channel(row.channel)
        if state[channel] != ReachState.ACTIVE:
            skipped.append(
                {"b_id": row.id, "b_attempt": row.attempts, "b_reason": state[channel].value}
            )
            continue
        later = None if row.urgent else quiet_hours.next_allowed(now, timezone)
        if later is not None:
            deferred.append({"b_id": row.id, "b_due": later})
            continue
        ready.append(
            Claimed(
                row.id,
                row.customer_id,
                channel,
                row.address,
                row.body,
                row.buttons,
                row.attempts,
                row.message,
                row.urgent,
            )
        )
    finish_skipped(session, skipped, worker, now)
    defer(session, deferred)
    return ClaimResult(ready, len(skipped), len(deferred))


# A supplier's e-mail has no customer whose consent or quiet hours apply (see store.models).
NOT_A_CUSTOMER: tuple[dict[Channel, ReachState], str] = (
    {channel: ReachState.ACTIVE for channel in Channel},
    "UTC",
)


def reach(
    session: Session, customer_ids: set[int | None]
) -> dict[int | None, tuple[dict[Channel, ReachState], str]]:
    """Each customer's state per channel and time zone (one SELECT by primary key)."""
    found = session.connection().execute(_REACH, {"ids": list(customer_ids)})
    return {
        cid: ({Channel.SMS: sms, Channel.TELEGRAM: telegram, Channel.EMAIL: ReachState.ACTIVE}, tz)
        for cid, sms, telegram, tz in found
    }


# Built once: these run for every group of sends, and building and caching an ORM statement
# each time cost more than executing it (measured: 1.1 ms CPU for a one-row "sending" mark,
# most of it in statement construction, cache keys and the ORM's bulk-update path).
_CUSTOMERS = cast(Table, Customer.__table__)
_REACH = select(
    _CUSTOMERS.c.id, _CUSTOMERS.c.sms_state, _CUSTOMERS.c.telegram_state, _CUSTOMERS.c.timezone
).where(_CUSTOMERS.c.id.in_(bindparam("ids", expanding=True)))
_MARK_SENDING = (
    update(OUTBOX)
    .where(
        OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
        OUTBOX.c.status == OutboxStatus.CLAIMED,
        OUTBOX.c.claimed_by == bindparam("worker"),
    )
    .values(status=OutboxStatus.SENDING)
    .returning(OUTBOX.c.id)
)


def finish_skipped(
    session: Session, skipped: list[dict[str, Any]], worker: str, now: dt.datetime
) -> None:
    if not skipped:
        return
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == bindparam("b_id"))
        .values(
            status=OutboxStatus.SKIPPED,
            last_error=bindparam("b_reason"),
            finished_at=now,
            lease_expires_at=None,
        ),
        skipped,
    )
    _log_attempts(
        session,
        [(s["b_id"], s["b_attempt"], "skipped", s["b_reason"], None) for s in skipped],
        worker,
        now,
    )


def defer(session: Session, deferred: list[dict[str, Any]]) -> None:
    if not deferred:
        return
    # Waiting out quiet hours is not an attempt.
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == bindparam("b_id"))
        .values({**_UNCLAIMED, "due_at": bindparam("b_due")}),
        deferred,
    )


def mark_sending(session: Session, ids: Sequence[int], worker: str) -> set[int]:
    """Record that these requests are about to leave; return the ids this worker still holds.

    A row missing from the result was taken from us (our lease expired and another worker
    claimed it): it must not be sent, or it would be delivered twice.
    """
    if not ids:
        return set()
    marked = session.connection().execute(_MARK_SENDING, {"ids": list(ids), "worker": worker})
    return set(marked.scalars())


def renew_leases(session: Session, worker: str, now: dt.datetime, lease: dt.timedelta) -> int:
    """Heartbeat: keep this worker's rows while a slow batch (rate limits) is still going."""
    return int(
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.claimed_by == worker,
                OutboxMessage.status.in_([OutboxStatus.CLAIMED, OutboxStatus.SENDING]),
            )
            .values(lease_expires_at=now + lease)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    )


OutcomeKind = Literal["sent", "retry", "failed", "unknown"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one send, as the dispatcher saw it."""

    claimed: Claimed
    kind: OutcomeKind
    provider_id: str | None = None
    reason: str | None = None
    detail: str | None = None
    retry_after: float | None = None


def record_outcomes(
    session: Session, outcomes: Sequence[Outcome], worker: str, now: dt.datetime
) -> None:
    """Write a group of outcomes: statuses, attempts, and customers who cannot be reached."""
    by_kind: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        kind = outcome.kind
        if kind == "retry" and outcome.claimed.attempt >= MAX_ATTEMPTS:
            kind = "failed"
        by_kind.setdefault(kind, []).append(outcome)
    _update_from_sending(
        session,
        worker,
        by_kind.get("sent", []),
        lambda o: {"status": OutboxStatus.SENT, "provider_id": o.provider_id, "sent_at": now},
    )
    _update_from_sending(
        session,
        worker,
        by_kind.get("retry", []),
        lambda o: {
            "status": OutboxStatus.PENDING,
            "due_at": now + backoff(o.claimed.attempt, o.retry_after),
            "last_error": _error_text(o),
            "claimed_by": None,
        },
    )
    _update_from_sending(
        session,
        worker,
        by_kind.get("failed", []),
        lambda o: {
            "status": OutboxStatus.FAILED,
            "last_error": _error_text(o),
            "finished_at": now,
        },
    )
    _update_from_sending(
        session,
        worker,
        by_kind.get("unknown", []),
        lambda o: {
            "status": OutboxStatus.UNKNOWN,
            "last_error": _error_text(o),
            # due_at now means "reconcile after": give the provider time to list it.
            "due_at": now + RECONCILE_AFTER,
        },
    )
    _mark_unreachable(session, by_kind.get("failed", []), now)
    # Only on failure, so a group of successful sends costs no inbox statement.
    troubled = [o.claimed.id for kind in ("failed", "unknown") for o in by_kind.get(kind, [])]
    file_delivery_failures(session, now, troubled)
    _log_attempts(
        session,
        [
            (o.claimed.id, o.claimed.attempt, kind, o.reason, o.detail)
            for kind, group in by_kind.items()
            for o in group
        ],
        worker,
        now,
    )


def _update_from_sending(
    session: Session, worker: str, outcomes: list[Outcome], values: Any
) -> None:
    if not outcomes:
        return
    params = []
    for outcome in outcomes:
        fields = values(outcome)
        params.append({"b_id": outcome.claimed.id, **{f"b_{k}": v for k, v in fields.items()}})
    for row in params:
        row["b_worker"] = worker
    _outcome_update(tuple(values(outcomes[0]))).execute(session.connection(), params)


@functools.cache
def _outcome_update(columns: tuple[str, ...]) -> PreparedMany:
    """One UPDATE per set of columns an outcome writes, built once (see ``_MARK_SENDING``)."""
    return PreparedMany(
        update(OUTBOX)
        .where(
            OUTBOX.c.id == bindparam("b_id"),
            # A status callback may already have moved the row on: never move it back.
            # (an IN list cannot be used in an executemany statement)
            or_(OUTBOX.c.status == OutboxStatus.SENDING, OUTBOX.c.status == OutboxStatus.CLAIMED),
            OUTBOX.c.claimed_by == bindparam("b_worker"),
        )
        .values({c: bindparam(f"b_{c}") for c in columns} | {"lease_expires_at": None})
    )


def _error_text(outcome: Outcome) -> str:
    text = outcome.reason or "error"
    if outcome.detail:
        text = f"{text}: {outcome.detail}"
    return text[:300]


def _mark_unreachable(session: Session, failed: list[Outcome], now: dt.datetime) -> None:
    for outcome in failed:
        change = UNREACHABLE_REASONS.get(outcome.reason or "")
        if change is None:
            continue
        channel, state = change
        column = f"{channel.value}_state"
        session.execute(
            update(Customer)
            .where(Customer.id == outcome.claimed.customer_id)
            .values({column: state, f"{column}_changed_at": now})
            .execution_options(synchronize_session=False)
        )


def _log_attempts(
    session: Session,
    attempts: list[tuple[int, int, str, str | None, str | None]],
    worker: str,
    now: dt.datetime,
) -> None:
    if attempts:
        _INSERT_ATTEMPTS.execute(
            session.connection(),
            [
                {
                    "outbox_id": outbox_id,
                    "attempt": attempt,
                    "worker": worker,
                    "outcome": outcome,
                    "reason": reason,
                    "detail": (detail or "")[:300] or None,
                    "created_at": now,
                }
                for outbox_id, attempt, outcome, reason, detail in attempts
            ],
        )


_INSERT_ATTEMPTS = PreparedMany(
    insert(ATTEMPTS).values(
        {c: bindparam(c) for c in ("outbox_id", "attempt", "worker", "outcome", "reason")}
        | {"detail": bindparam("detail"), "created_at": bindparam("created_at")}
    )
)


def backoff(attempt: int, retry_after: float | None = None) -> dt.timedelta:
    """Exponential backoff with jitter; a provider's ``retry_after`` wins when it says more."""
    if retry_after is not None:
        return dt.timedelta(seconds=retry_after + random.uniform(0, 1))  # noqa: S311
    ceiling: dt.timedelta = min(BACKOFF_CAP, BACKOFF_BASE * (1 << max(0, attempt - 1)))
    # "Equal jitter": at least half the step, so retries do spread but never bunch at zero.
    return ceiling / 2 + ceiling / 2 * random.random()  # noqa: S311


def recover_expired_leases(session: Session, now: dt.datetime) -> tuple[int, int]:
    """Rows of workers that died: ``claimed`` ones go back to ``pending`` (nothing left);
    ``sending`` ones become ``unknown`` (their request may have reached the provider)."""
    expired = and_(
        OutboxMessage.lease_expires_at.is_not(None), OutboxMessage.lease_expires_at < now
    )
    returned = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.CLAIMED, expired)
        .values(_UNCLAIMED)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    unknown = (
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.SENDING, expired)
            .values(
                status=OutboxStatus.UNKNOWN,
                lease_expires_at=None,
                due_at=now,
                last_error="worker stopped while the request was in flight",
            )
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    file_delivery_failures(session, now, unknown)
    return int(returned), len(unknown)


def counts_by_status(session: Session) -> dict[str, int]:
    return {
        status.value: count
        for status, count in session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
    }


def release_claims(session: Session, ids: Sequence[int], worker: str) -> None:
    """Hand back claimed rows whose requests never left (a worker stopping cleanly)."""
    if ids:
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(ids),
                OutboxMessage.status == OutboxStatus.CLAIMED,
                OutboxMessage.claimed_by == worker,
            )
            .values(_UNCLAIMED)
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True, slots=True)
class Unresolved:
    """An ``unknown`` row to look up at the provider."""

    id: int
    customer_id: int | None
    channel: Channel
    address: str
    body: str
    created_at: dt.datetime


def unknown_to_reconcile(
    session: Session, channel: Channel, now: dt.datetime, limit: int = 50
) -> list[Unresolved]:
    rows = session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.customer_id,
            OutboxMessage.channel,
            OutboxMessage.address,
            OutboxMessage.body,
            OutboxMessage.created_at,
        )
        .where(
            OutboxMessage.status == OutboxStatus.UNKNOWN,
            OutboxMessage.channel == channel,
            OutboxMessage.due_at <= now,
        )
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
    )
    return [Unresolved(*row) for row in rows]


def settle_unknown(
    session: Session,
    found: dict[int, str | None],
    worker: str,
    now: dt.datetime,
) -> None:
    """Apply look-up results: found at the provider -> ``sent``; not there -> ``pending``
    again (it never arrived, so sending it is not a duplicate)."""
    for outbox_id, provider_id in found.items():
        values: dict[str, Any] = (
            {"status": OutboxStatus.SENT, "provider_id": provider_id, "sent_at": now}
            if provider_id
            else {"status": OutboxStatus.PENDING, "due_at": now, "claimed_by": None}
        )
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id, OutboxMessage.status == OutboxStatus.UNKNOWN)
            .values(values)
            .execution_options(synchronize_session=False)
        )
    _log_attempts(
        session,
        [
            (oid, 0, "reconciled_sent" if pid else "reconciled_missing", None, pid)
            for oid, pid in found.items()
        ],
        worker,
        now,
    )


def retry_rows(session: Session, ids: Sequence[int], now: dt.datetime) -> int:
    """An agent's decision: send ``failed`` or ``unknown`` rows again (attempts start over)."""
    return int(
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(ids),
                OutboxMessage.status.in_([OutboxStatus.FAILED, OutboxStatus.UNKNOWN]),
            )
            .values(
                status=OutboxStatus.PENDING,
                due_at=now,
                attempts=0,
                claimed_by=None,
                lease_expires_at=None,
                finished_at=None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    )
