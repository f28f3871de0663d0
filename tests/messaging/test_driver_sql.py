"""PreparedMany writes what SQLAlchemy's own executemany writes (the fast path and its slow one)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from messaging import outbox, outbox_outcomes
from messaging.driver_sql import PreparedMany
from messaging.quiet_hours import QuietHours
from store.models import Channel, Customer, DeliveryAttempt, OutboxMessage

NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
WORKER = "worker-1"


def _through_sqlalchemy(self: PreparedMany, connection: Connection, rows: Sequence[Any]) -> None:
    """The path PreparedMany replaces: Core's executemany, parameters built by SQLAlchemy."""
    if rows:
        connection.execute(self._statement, [dict(row) for row in rows])


def _claimed(session: Session, count: int) -> list[outbox.Claimed]:
    customer = Customer(name="Ana", telegram_chat_id=42)
    session.add(customer)
    session.flush()
    outbox.enqueue(
        session,
        [
            outbox.QueuedMessage(
                dedupe_key=f"k{n}",
                customer_id=customer.id,
                channel=Channel.TELEGRAM,
                address="42",
                message="backorder_notice",
                locale="es",
                body=f"Hola <b>Ana</b> #{n}, ¿esperas?",
            )
            for n in range(count)
        ],
        NOW - dt.timedelta(minutes=1),
    )
    claimed = outbox.claim(
        session,
        worker=WORKER,
        limit=count,
        now=NOW,
        lease=dt.timedelta(minutes=5),
        quiet_hours=QuietHours(dt.time(0), dt.time(0)),
    )
    outbox.mark_sending(session, [m.id for m in claimed.ready[1:]], WORKER)  # one stays claimed
    return claimed.ready


def _outcomes(claimed: list[outbox.Claimed]) -> list[outbox.Outcome]:
    first, second, third, fourth, fifth, sixth = claimed
    return [
        outbox.Outcome(first, "sent", provider_id="tg-1"),
        outbox.Outcome(second, "sent", provider_id="tg-2"),
        outbox.Outcome(third, "retry", reason="rate_limited", detail="wait", retry_after=3.0),
        outbox.Outcome(fourth, "retry", reason="network", detail="x" * 400),
        outbox.Outcome(fifth, "failed", reason="telegram_bad_request", detail=None),
        outbox.Outcome(sixth, "unknown", reason="timeout", detail="read timed out"),
    ]


def _snapshot(session: Session) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The rows as stored: read through the driver, so no result processing hides a
    difference in how a value was bound (a datetime's text form on SQLite, say)."""
    conn = session.connection()
    rows = conn.exec_driver_sql("SELECT * FROM outbox_messages ORDER BY id").mappings()
    attempts = conn.exec_driver_sql(
        "SELECT * FROM delivery_attempts ORDER BY outbox_id, attempt"
    ).mappings()
    return [dict(r) for r in rows], [dict(r) for r in attempts]


def _record_and_snapshot(session: Session) -> tuple[list[Mapping[str, Any]], ...]:
    nested = session.begin_nested()
    claimed = _claimed(session, 6)
    outbox.record_outcomes(session, _outcomes(claimed), WORKER, NOW)
    snapshot = _snapshot(session)
    nested.rollback()
    return snapshot


def test_outcomes_and_attempts_are_written_as_sqlalchemy_would(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_outcomes.random, "random", lambda: 0.5)
    monkeypatch.setattr(outbox_outcomes.random, "uniform", lambda a, b: (a + b) / 2)
    fast = _record_and_snapshot(session)
    monkeypatch.setattr(PreparedMany, "execute", _through_sqlalchemy)
    slow = _record_and_snapshot(session)

    def without_ids(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        # Both runs insert fresh rows: their ids differ, nothing else may.
        return [{k: v for k, v in r.items() if k not in ("id", "outbox_id", "customer_id")}
                for r in rows]  # fmt: skip

    assert len(fast[0]) == len(slow[0]) == 6
    assert len(fast[1]) == len(slow[1]) == 6
    assert without_ids(fast[0]) == without_ids(slow[0])
    assert without_ids(fast[1]) == without_ids(slow[1])


def test_it_binds_the_statements_own_values_and_the_rows(session: Session) -> None:
    claimed = _claimed(session, 6)
    statement = PreparedMany(
        outbox.OUTBOX.update()
        .where(outbox.OUTBOX.c.id == outbox.bindparam("b_id"))
        .values(last_error="held", attempts=outbox.bindparam("b_attempts"))
    )
    statement.execute(session.connection(), [{"b_id": claimed[0].id, "b_attempts": 7}])
    row = session.execute(
        select(OutboxMessage.last_error, OutboxMessage.attempts).where(
            OutboxMessage.id == claimed[0].id
        )
    ).one()
    assert tuple(row) == ("held", 7)


def test_a_row_missing_a_parameter_is_an_error_not_a_null(session: Session) -> None:
    claimed = _claimed(session, 6)
    statement = PreparedMany(
        outbox.OUTBOX.update()
        .where(outbox.OUTBOX.c.id == outbox.bindparam("b_id"))
        .values(last_error=outbox.bindparam("b_error"))
    )
    with pytest.raises(KeyError):
        statement.execute(session.connection(), [{"b_id": claimed[0].id}])


def test_it_refuses_statements_that_need_python_side_defaults(session: Session) -> None:
    # created_at has a Python-side default, which only SQLAlchemy's execution context fills in.
    given = ("outbox_id", "attempt", "worker", "outcome")
    statement = PreparedMany(
        insert(DeliveryAttempt.__table__).values({c: outbox.bindparam(c) for c in given})
    )
    with pytest.raises(ValueError, match="Python-side defaults"):
        statement.execute(session.connection(), [{"outbox_id": 1}])
