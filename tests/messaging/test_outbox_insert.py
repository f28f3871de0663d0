"""The outbox's driver-level executemany stores what SQLAlchemy's own insert stored."""

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from messaging import outbox, outbox_enqueue
from store.models import Channel, Customer, OutboxStatus

NOW = dt.datetime(2026, 11, 2, 12, 0, 0, 123456, tzinfo=dt.UTC)
COLUMNS = ", ".join(outbox_enqueue._COPY_COLUMNS)


def _stored(session: Session, prefix: str) -> list[tuple[Any, ...]]:
    """The rows as the database holds them (no result processing), keys without the prefix."""
    rows = session.execute(
        text(f"SELECT {COLUMNS} FROM outbox_messages WHERE dedupe_key LIKE :p ORDER BY dedupe_key"),
        {"p": prefix + "%"},
    )
    return [(row[0].removeprefix(prefix), *row[1:]) for row in rows]


def test_enqueued_rows_are_stored_as_a_core_insert_stores_them(session: Session) -> None:
    customer = Customer(name="Ana", telegram_chat_id=42, phone="+14155550100")
    session.add(customer)
    session.flush()
    madrid = NOW.astimezone(ZoneInfo("Europe/Madrid"))
    messages = [
        outbox.QueuedMessage(
            dedupe_key="a",
            customer_id=customer.id,
            channel=Channel.TELEGRAM,
            address="42",
            message="delay_notice",
            locale="es",
            body="Hola <b>Ana</b>, ¿esperas? ñ €",
            buttons=[["Esperar", "offer:7:wait"], ["Cancelar", "offer:7:cancel"]],
            event_id=None,
            urgent=True,
            due_at=madrid + dt.timedelta(hours=3),
        ),
        outbox.QueuedMessage(
            dedupe_key="b",
            customer_id=customer.id,
            channel=Channel.SMS,
            address="+14155550100",
            message="eta_changed",
            locale="en",
            body="Casa: new date",
        ),
    ]
    outbox.enqueue(session, messages, NOW)
    outbox.enqueue(session, messages[:1], NOW)  # a dedupe key seen before is kept once
    reference = [
        {
            "dedupe_key": "core:" + m.dedupe_key,
            "customer_id": m.customer_id,
            "supplier_id": m.supplier_id,
            "channel": m.channel,
            "address": m.address,
            "message": m.message,
            "locale": m.locale,
            "body": m.body,
            "buttons": m.buttons,
            "event_id": m.event_id,
            "broadcast_id": m.broadcast_id,
            "urgent": m.urgent,
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "due_at": m.due_at or NOW,
            "created_at": NOW,
        }
        for m in messages
    ]
    session.connection().execute(insert(outbox.OUTBOX), reference)
    enqueued = [row for row in _stored(session, "") if not row[0].startswith("core:")]
    assert len(enqueued) == 2
    assert enqueued == _stored(session, "core:")
