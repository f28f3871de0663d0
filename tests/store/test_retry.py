"""A deadlock's victim is run again, whole: no choice or receipt is lost to a rolled-back lock."""

from __future__ import annotations

import logging
import threading

import psycopg.errors
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from store import retry
from store.db import Database
from store.locking import lock_products
from store.models import Product
from tests import factories as f


def _deadlock() -> OperationalError:
    return OperationalError("UPDATE ...", {}, psycopg.errors.DeadlockDetected("deadlock detected"))


def test_a_transaction_deadlocked_twice_runs_three_times_with_bounded_jittered_sleeps() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) <= 2:
            raise _deadlock()
        return "done"

    assert retry.run_retrying(attempt, sleep=sleeps.append) == "done"
    assert len(calls) == 3
    assert len(sleeps) == 2
    for attempt_no, slept in enumerate(sleeps, start=1):
        ceiling = min(retry.MAX_DELAY_S, retry.BASE_DELAY_S * 2 ** (attempt_no - 1))
        assert ceiling / 2 <= slept <= ceiling


def test_a_serialization_failure_is_retried_and_gives_up_after_the_last_attempt() -> None:
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise OperationalError("SELECT", {}, psycopg.errors.SerializationFailure("could not"))

    with pytest.raises(OperationalError):
        retry.run_retrying(attempt, attempts=4, sleep=lambda _: None)
    assert len(calls) == 4


def test_other_database_errors_are_not_retried() -> None:
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    with pytest.raises(IntegrityError):
        retry.run_retrying(attempt, sleep=lambda _: None)
    assert calls == [1]


def test_each_retry_is_logged_without_the_driver_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts = iter([_deadlock(), None])

    def attempt() -> None:
        error = next(attempts)
        if error is not None:
            raise error

    with caplog.at_level(logging.WARNING, logger="store.retry"):
        retry.run_retrying(attempt, label="accept_offer", sleep=lambda _: None)
    assert "accept_offer rolled back (deadlock), attempt 1 of 5" in caplog.text
    assert "UPDATE" not in caplog.text


def test_a_retried_transaction_keeps_nothing_of_the_failed_attempt(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, "BASE_DELAY_S", 0.0)
    attempts: list[int] = []

    def work(session: Session) -> None:
        attempts.append(1)
        f.product(session, f"RETRY-{len(attempts)}")
        if len(attempts) == 1:
            raise _deadlock()

    committed_db.transaction(work)
    with committed_db.read_session() as session:
        skus = session.scalars(select(Product.sku).where(Product.sku.like("RETRY-%"))).all()
    assert skus == ["RETRY-2"]


def test_two_transactions_locking_two_rows_in_opposite_orders_both_commit_on_postgres(
    on_postgres: Database, committed_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    db = on_postgres  # committed_db: its rows are real commits, emptied after the test
    with db.session() as session:
        ids = [f.product(session, "DL-A").id, f.product(session, "DL-B").id]
    met = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def crosswise(first: int, second: int) -> None:
        tries: list[int] = []

        def work(session: Session) -> None:
            tries.append(1)
            lock_products(session, [first])
            if len(tries) == 1:
                met.wait()  # both hold their first row: the second lock closes the cycle
            lock_products(session, [second])
            session.execute(select(func.count()).select_from(Product))

        try:
            db.transaction(work)
        except BaseException as exc:  # asserted on below
            errors.append(exc)

    threads = [
        threading.Thread(target=crosswise, args=(ids[0], ids[1])),
        threading.Thread(target=crosswise, args=(ids[1], ids[0])),
    ]
    with caplog.at_level(logging.WARNING, logger="store.retry"):
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    assert "rolled back (deadlock)" in caplog.text
