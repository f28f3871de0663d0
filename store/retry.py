"""Run a whole transaction again when the database chose it as a deadlock or serialisation victim.

PostgreSQL breaks a deadlock by rolling one transaction back (SQLSTATE 40P01) and may refuse a
serialisable one (40001); nothing of it was kept, so running the same work again from the start
is safe and is what the documentation asks of clients. SQLite can say "database is locked" when
its busy timeout runs out. Only these are retried: any other error is a bug or a refusal, and
retrying it would only repeat it. Waits grow exponentially with random jitter, so two victims of
the same deadlock do not collide again in step.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_ATTEMPTS = 5
BASE_DELAY_S = 0.01
MAX_DELAY_S = 0.5
# psycopg's errors.DeadlockDetected and errors.SerializationFailure carry these; comparing the
# SQLSTATE keeps this module importable where psycopg is not installed (SQLite deployments).
RETRYABLE_SQLSTATES = {"40P01": "deadlock", "40001": "serialization failure"}


def retry_reason(exc: BaseException) -> str | None:
    """Why ``exc`` is worth a fresh attempt of the whole transaction, or None if it is not."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate in RETRYABLE_SQLSTATES:
        return RETRYABLE_SQLSTATES[sqlstate]
    if isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig):
        return "database is locked"
    return None


def backoff(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): doubling, capped, 50-100% jitter."""
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** (attempt - 1))
    return ceiling * (0.5 + rng() / 2)


def run_retrying(
    attempt_once: Callable[[], T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    label: str = "transaction",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``attempt_once`` (one whole transaction) until it succeeds, at most ``attempts`` times.

    ``attempt_once`` must open and commit its own transaction, so that a failed attempt has
    been rolled back before the next one starts.
    """
    for attempt in range(1, attempts + 1):
        try:
            return attempt_once()
        except DBAPIError as exc:
            reason = retry_reason(exc)
            if reason is None or attempt == attempts:
                raise
            delay = backoff(attempt)
            # The reason and the operation only: the driver's message can quote row values.
            log.warning(
                "%s rolled back (%s), attempt %d of %d; retrying in %.3f s",
                label,
                reason,
                attempt,
                attempts,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")
