"""Carrier compliance at send time: quiet hours to the second in the recipient's zone (daylight
saving days included), and a STOP that arrives while a message already waits in the outbox."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.conversation import Incoming
from bot.inbound import Inbound, Received
from messaging import outbox
from messaging.channels.sandbox import SandboxChannel
from messaging.dispatcher import Dispatcher
from store.db import Database
from store.models import Channel, OutboxStatus
from store.policy import DEFAULT_POLICY
from tests.messaging.test_dispatcher import (
    PHONE,
    Clock,
    _dispatcher,
    _rows,
    _run,
    clock,  # noqa: F401 - fixtures
    customer_id,  # noqa: F401
    sms,  # noqa: F401
    telegram,  # noqa: F401
)

UTC = dt.UTC


def _queue_at(db: Database, customer_id: int, now: dt.datetime) -> None:  # noqa: F811
    with db.session() as session:
        outbox.enqueue(
            session,
            [
                outbox.QueuedMessage(
                    dedupe_key=f"compliance:{now.isoformat()}",
                    customer_id=customer_id,
                    channel=Channel.SMS,
                    address=PHONE,
                    message="broadcast",
                    locale="en",
                    body="news",
                )
            ],
            now,
        )


# (UTC instant, sent now?, when a deferred message becomes due) for a New York recipient.
BOUNDARIES = [
    # An ordinary November evening (EST, UTC-5).
    (dt.datetime(2026, 11, 10, 1, 59, 59, tzinfo=UTC), True, None),  # 20:59:59
    (
        dt.datetime(2026, 11, 10, 2, 0, 0, tzinfo=UTC),
        False,
        dt.datetime(2026, 11, 10, 13, tzinfo=UTC),
    ),
    # 1 November 2026: clocks go back at 02:00 EDT; that evening is EST.
    (dt.datetime(2026, 11, 2, 1, 59, 59, tzinfo=UTC), True, None),
    (
        dt.datetime(2026, 11, 2, 2, 0, 0, tzinfo=UTC),
        False,
        dt.datetime(2026, 11, 2, 13, tzinfo=UTC),
    ),
    # The night of the change: 01:30 EDT, before the repeated hour; morning is 08:00 EST.
    (dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC), False, dt.datetime(2026, 11, 1, 13, tzinfo=UTC)),
    # 8 March 2026: clocks go forward at 02:00 EST; that evening is EDT (UTC-4).
    (dt.datetime(2026, 3, 9, 0, 59, 59, tzinfo=UTC), True, None),
    (dt.datetime(2026, 3, 9, 1, 0, 0, tzinfo=UTC), False, dt.datetime(2026, 3, 9, 12, tzinfo=UTC)),
    # 07:59:59 EDT the morning after: still quiet; 08:00:00 sends.
    (
        dt.datetime(2026, 3, 9, 11, 59, 59, tzinfo=UTC),
        False,
        dt.datetime(2026, 3, 9, 12, tzinfo=UTC),
    ),
    (dt.datetime(2026, 3, 9, 12, 0, 0, tzinfo=UTC), True, None),
]


@pytest.mark.parametrize(
    ("instant", "sent", "due"), BOUNDARIES, ids=[b[0].isoformat() for b in BOUNDARIES]
)
def test_quiet_hours_boundary_to_the_second_in_the_recipients_zone(
    committed_db: Database,
    customer_id: int,  # noqa: F811
    clock: Clock,  # noqa: F811
    sms: SandboxChannel,  # noqa: F811
    telegram: SandboxChannel,  # noqa: F811
    instant: dt.datetime,
    sent: bool,
    due: dt.datetime | None,
) -> None:
    clock.now = instant
    _queue_at(committed_db, customer_id, instant)
    _run(_dispatcher(committed_db, clock, sms, telegram))
    [row] = _rows(committed_db)
    if sent:
        assert row.status == OutboxStatus.SENT
        assert len(sms.sent) == 1
    else:
        assert row.status == OutboxStatus.PENDING
        assert row.due_at == due
        assert sms.sent == []


def test_a_stop_received_while_a_message_is_queued_stops_that_message(
    committed_db: Database,
    customer_id: int,  # noqa: F811
    clock: Clock,  # noqa: F811
    sms: SandboxChannel,  # noqa: F811
    telegram: SandboxChannel,  # noqa: F811
) -> None:
    _queue_at(committed_db, customer_id, clock.now)
    inbound = Inbound(
        committed_db,
        shop_name="Shop",
        support_contact="help@shop.test",
        policy=DEFAULT_POLICY,
        clock=clock,
    )
    handled = inbound.handle(Received(Channel.SMS, "SM" + "1" * 32, PHONE, Incoming("Stop")))
    assert handled.reply is not None
    assert handled.reply.message == "opted_out"
    dispatcher: Dispatcher = _dispatcher(committed_db, clock, sms, telegram)
    _run(dispatcher)
    [row] = _rows(committed_db)
    assert (row.status, row.last_error) == (OutboxStatus.SKIPPED, "opted_out")
    assert sms.sent == []
