"""Queueing into the outbox: same behaviour via executemany (SQLite) and COPY (PostgreSQL)."""

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging import outbox
from store.models import Channel, Customer, OutboxMessage, OutboxStatus

NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


def _message(customer_id: int, key: str, **fields: object) -> outbox.QueuedMessage:
    values: dict[str, object] = {
        "dedupe_key": key,
        "customer_id": customer_id,
        "channel": Channel.TELEGRAM,
        "address": "42",
        "message": "backorder_notice",
        "locale": "es",
        "body": "Hola <b>Ana</b>, ¿esperas?",
        **fields,
    }
    return outbox.QueuedMessage(**values)  # type: ignore[arg-type]


def _customer(session: Session) -> int:
    customer = Customer(name="Ana", telegram_chat_id=42)
    session.add(customer)
    session.flush()
    return customer.id


def test_queued_row_keeps_every_field(session: Session) -> None:
    cid = _customer(session)
    later = NOW + dt.timedelta(hours=3)
    buttons = [["Esperar (10% dto.)", "offer:7:wait"], ["Cancelar pedido", "offer:7:cancel"]]
    outbox.enqueue(session, [_message(cid, "k1", buttons=buttons, urgent=True, due_at=later)], NOW)
    row = session.scalars(select(OutboxMessage)).one()
    assert (row.channel, row.status, row.urgent, row.attempts) == (
        Channel.TELEGRAM,
        OutboxStatus.PENDING,
        True,
        0,
    )
    assert row.body == "Hola <b>Ana</b>, ¿esperas?"
    assert row.buttons == buttons
    assert (row.due_at, row.created_at) == (later, NOW)


def test_same_dedupe_key_twice_in_one_call_is_one_row(session: Session) -> None:
    cid = _customer(session)
    outbox.enqueue(session, [_message(cid, "k1"), _message(cid, "k1", body="other")], NOW)
    assert session.scalars(select(OutboxMessage.body)).all() == ["Hola <b>Ana</b>, ¿esperas?"]


def test_a_key_already_queued_is_kept_and_new_ones_added(session: Session) -> None:
    cid = _customer(session)
    outbox.enqueue(session, [_message(cid, "k1")], NOW)
    outbox.enqueue(session, [_message(cid, "k1", body="again"), _message(cid, "k2")], NOW)
    rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.dedupe_key)).all()
    assert [(r.dedupe_key, r.body) for r in rows] == [
        ("k1", "Hola <b>Ana</b>, ¿esperas?"),
        ("k2", "Hola <b>Ana</b>, ¿esperas?"),
    ]
