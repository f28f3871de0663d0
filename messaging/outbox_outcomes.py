"""The dispatcher's outcomes written back: statuses, attempts, backoff, unreachable customers.

One commit per group of outcomes, never one per message. Re-exported by ``messaging.outbox``.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import bindparam, insert, or_, update
from sqlalchemy.orm import Session

from messaging.driver_sql import PreparedMany
from messaging.outbox_rows import (
    ATTEMPTS,
    BACKOFF_BASE,
    BACKOFF_CAP,
    MAX_ATTEMPTS,
    OUTBOX,
    RECONCILE_AFTER,
    UNREACHABLE_REASONS,
    Claimed,
)
from store.inbox import file_delivery_failures
from store.models import (
    Customer,
    OutboxStatus,
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
    log_attempts(
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


def log_attempts(
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
