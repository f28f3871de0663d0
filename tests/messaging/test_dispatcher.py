"""The dispatcher against a real database and the sandbox channels (faults scripted there)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from messaging import outbox
from messaging.channels.base import SendError
from messaging.channels.sandbox import SandboxChannel
from messaging.delivery_reports import ReportResult, apply_report
from messaging.dispatcher import DispatchConfig, Dispatcher, Unlimited
from messaging.notifier import ShopVoice
from messaging.quiet_hours import QuietHours
from messaging.types import OutgoingMessage
from store.db import Database
from store.models import (
    Channel,
    Customer,
    DeliveryAttempt,
    HeldStatusReport,
    OutboxMessage,
    OutboxStatus,
    ReachState,
)
from tests.clock import Clock

NOON = dt.datetime(2026, 11, 2, 17, 0, tzinfo=dt.UTC)  # noon in New York
PHONE = "+14155550100"
CHAT = "5000000001"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
def sms() -> SandboxChannel:
    return SandboxChannel(Channel.SMS)


@pytest.fixture
def telegram() -> SandboxChannel:
    return SandboxChannel(Channel.TELEGRAM)


@pytest.fixture
def customer_id(committed_db: Database) -> int:
    with committed_db.session() as session:
        customer = Customer(
            name="Ada", phone=PHONE, telegram_chat_id=int(CHAT), timezone="America/New_York"
        )
        session.add(customer)
        session.flush()
        return customer.id


def _dispatcher(
    db: Database, clock: Clock, sms: SandboxChannel, telegram: SandboxChannel, **config: object
) -> Dispatcher:
    settings = DispatchConfig(
        quiet_hours=QuietHours(dt.time(21), dt.time(8)),
        rates={Channel.SMS: 100.0, Channel.TELEGRAM: 100.0},
        voice=ShopVoice("Shop", "help@shop.test"),
        **config,  # type: ignore[arg-type]
    )
    return Dispatcher(
        db,
        {Channel.SMS: sms, Channel.TELEGRAM: telegram},
        {Channel.SMS: Unlimited(), Channel.TELEGRAM: Unlimited()},
        settings,
        clock=clock,
    )


def _queue(
    db: Database, customer_id: int, n: int = 1, channel: Channel = Channel.SMS, urgent=False
) -> None:
    address = PHONE if channel == Channel.SMS else CHAT
    with db.session() as session:
        outbox.enqueue(
            session,
            [
                outbox.QueuedMessage(
                    dedupe_key=f"test:{channel}:{i}",
                    customer_id=customer_id,
                    channel=channel,
                    address=address,
                    message="broadcast",
                    locale="en",
                    body=f"hello {i}",
                    urgent=urgent,
                )
                for i in range(n)
            ],
            NOON,
        )


def _rows(db: Database) -> list[OutboxMessage]:
    with db.read_session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _run(dispatcher: Dispatcher):
    return asyncio.run(dispatcher.run_once())


def test_due_message_is_sent_once_and_its_attempt_recorded(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id)
    stats = _run(_dispatcher(committed_db, clock, sms, telegram))
    assert stats.outcomes["sent"] == 1
    [row] = _rows(committed_db)
    assert row.status == OutboxStatus.SENT
    assert row.provider_id == sms.sent[0].provider_id
    assert sms.sent[0].message.text == "hello 0"
    assert _run(_dispatcher(committed_db, clock, sms, telegram)).outcomes["sent"] == 0
    assert len(sms.sent) == 1
    with committed_db.read_session() as session:
        assert session.scalars(select(DeliveryAttempt.outcome)).all() == ["sent"]


def test_duplicate_dedupe_key_is_queued_once(committed_db: Database, customer_id: int) -> None:
    _queue(committed_db, customer_id)
    _queue(committed_db, customer_id)
    assert len(_rows(committed_db)) == 1


def test_transient_failure_is_retried_later_with_backoff(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id)
    sms.fail_for(PHONE, SendError("provider_error", "500"), times=1)
    _run(_dispatcher(committed_db, clock, sms, telegram))
    [row] = _rows(committed_db)
    assert row.status == OutboxStatus.PENDING
    assert row.due_at > NOON
    assert row.last_error == "provider_error: 500"
    clock.now = row.due_at
    _run(_dispatcher(committed_db, clock, sms, telegram))
    assert [r.status for r in _rows(committed_db)] == [OutboxStatus.SENT]
    assert len(sms.sent) == 1


def test_retry_after_is_honoured(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id, channel=Channel.TELEGRAM)
    telegram.fail_for(CHAT, SendError("rate_limited", retry_after=30.0), times=1)
    _run(_dispatcher(committed_db, clock, sms, telegram))
    [row] = _rows(committed_db)
    assert row.due_at >= NOON + dt.timedelta(seconds=30)


def test_blocked_bot_is_a_dead_letter_and_marks_telegram_unreachable(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id, channel=Channel.TELEGRAM)
    telegram.fail_for(CHAT, SendError("telegram_blocked", permanent=True))
    _run(_dispatcher(committed_db, clock, sms, telegram))
    [row] = _rows(committed_db)
    assert row.status == OutboxStatus.FAILED
    with committed_db.read_session() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        assert customer.telegram_state == ReachState.UNREACHABLE


@pytest.mark.parametrize(
    ("reason", "state"),
    [("sms_opted_out", ReachState.OPTED_OUT), ("sms_invalid_number", ReachState.INVALID)],
)
def test_twilio_permanent_errors_update_the_customer(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram, reason, state
) -> None:
    _queue(committed_db, customer_id)
    sms.fail_for(PHONE, SendError(reason, permanent=True))
    _run(_dispatcher(committed_db, clock, sms, telegram))
    with committed_db.read_session() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        assert customer.sms_state == state


class NoLookup:
    """A channel that cannot say what it delivered (like Telegram)."""

    def __init__(self, inner: SandboxChannel) -> None:
        self.kind = inner.kind
        self._inner = inner

    async def send(self, message: OutgoingMessage) -> str:
        return await self._inner.send(message)

    async def close(self) -> None:
        await self._inner.close()


def test_unknown_outcome_is_not_resent_blindly(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id, channel=Channel.TELEGRAM)
    telegram.fail_for(CHAT, SendError("timeout", outcome_unknown=True), times=1)
    blind = NoLookup(telegram)
    _run(_dispatcher(committed_db, clock, sms, blind))
    clock.now += dt.timedelta(hours=1)
    _run(_dispatcher(committed_db, clock, sms, blind))
    assert [r.status for r in _rows(committed_db)] == [OutboxStatus.UNKNOWN]
    assert telegram.sent == []


def test_lost_answer_is_reconciled_as_sent_without_resending(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id)
    sms.fail_for(PHONE, SendError("timeout", outcome_unknown=True), times=1, after_delivery=True)
    _run(_dispatcher(committed_db, clock, sms, telegram))
    assert [r.status for r in _rows(committed_db)] == [OutboxStatus.UNKNOWN]
    clock.now += outbox.RECONCILE_AFTER
    _run(_dispatcher(committed_db, clock, sms, telegram))
    [row] = _rows(committed_db)
    assert (row.status, row.provider_id) == (OutboxStatus.SENT, sms.sent[0].provider_id)
    assert len(sms.sent) == 1


def test_send_that_never_arrived_is_sent_again_after_reconciling(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id)
    sms.fail_for(PHONE, SendError("timeout", outcome_unknown=True), times=1)
    _run(_dispatcher(committed_db, clock, sms, telegram))
    clock.now += dt.timedelta(seconds=10)
    _run(_dispatcher(committed_db, clock, sms, telegram))
    assert sms.sent == []  # too early to ask the provider
    clock.now += outbox.RECONCILE_AFTER
    _run(_dispatcher(committed_db, clock, sms, telegram))
    assert [r.status for r in _rows(committed_db)] == [OutboxStatus.SENT]
    assert len(sms.sent) == 1


def test_agent_can_retry_failed_and_unknown_rows(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id)
    sms.fail_for(PHONE, SendError("sms_bad_request", permanent=True), times=1)
    _run(_dispatcher(committed_db, clock, sms, telegram))
    [row] = _rows(committed_db)
    with committed_db.session() as session:
        assert outbox.retry_rows(session, [row.id], clock.now) == 1
    _run(_dispatcher(committed_db, clock, sms, telegram))
    assert [r.status for r in _rows(committed_db)] == [OutboxStatus.SENT]


def test_opt_out_after_queueing_is_honoured_at_send_time(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id)
    with committed_db.session() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.sms_state = ReachState.OPTED_OUT
    _run(_dispatcher(committed_db, clock, sms, telegram))
    assert [(r.status, r.last_error) for r in _rows(committed_db)] == [
        (OutboxStatus.SKIPPED, "opted_out")
    ]
    assert sms.sent == []


def test_quiet_hours_are_the_recipients_and_defer_to_their_morning(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    clock.now = dt.datetime(2026, 11, 3, 3, 0, tzinfo=dt.UTC)  # 22:00 in New York
    _queue(committed_db, customer_id)
    _run(_dispatcher(committed_db, clock, sms, telegram))
    [row] = _rows(committed_db)
    assert row.status == OutboxStatus.PENDING
    assert row.due_at == dt.datetime(2026, 11, 3, 13, 0, tzinfo=dt.UTC)  # 08:00 EST
    assert row.attempts == 0
    assert sms.sent == []


def test_urgent_messages_ignore_quiet_hours(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    clock.now = dt.datetime(2026, 11, 3, 3, 0, tzinfo=dt.UTC)
    _queue(committed_db, customer_id, urgent=True)
    _run(_dispatcher(committed_db, clock, sms, telegram))
    assert len(sms.sent) == 1


def test_retries_stop_after_the_last_attempt(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id)
    sms.fail_for(PHONE, SendError("provider_error"))
    for _ in range(outbox.MAX_ATTEMPTS):
        _run(_dispatcher(committed_db, clock, sms, telegram))
        clock.now += outbox.BACKOFF_CAP * 2
    [row] = _rows(committed_db)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, outbox.MAX_ATTEMPTS)


def test_dead_workers_claims_return_and_in_flight_rows_become_unknown(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id, n=2)
    with committed_db.session() as session:
        claimed = outbox.claim(
            session,
            worker="dead",
            limit=2,
            now=NOON,
            lease=dt.timedelta(minutes=1),
            quiet_hours=QuietHours(dt.time(0), dt.time(0)),
        ).ready
        outbox.mark_sending(session, [claimed[0].id], "dead")
    clock.now = NOON + dt.timedelta(minutes=2)
    _run(_dispatcher(committed_db, clock, NoLookup(sms), telegram))  # type: ignore[arg-type]
    statuses = {r.id: r.status for r in _rows(committed_db)}
    assert statuses[claimed[0].id] == OutboxStatus.UNKNOWN
    assert statuses[claimed[1].id] == OutboxStatus.SENT
    assert [r.message.text for r in sms.sent] == [
        next(c.body for c in claimed if c.id == claimed[1].id)
    ]


class _SlowSandbox(SandboxChannel):
    """Each send takes a moment, as a real one does, so two workers' batches overlap."""

    async def send(self, message: OutgoingMessage) -> str:
        await asyncio.sleep(0.002)
        return await super().send(message)


def test_two_workers_drain_one_outbox_without_sending_twice(
    committed_db: Database, customer_id: int, clock: Clock, sms
) -> None:
    # With instant sends one worker could drain everything before the other's first claim
    # on a loaded machine (seen once), and the test would prove nothing about two workers.
    telegram = _SlowSandbox(Channel.TELEGRAM)
    _queue(committed_db, customer_id, n=300, channel=Channel.TELEGRAM)

    async def both() -> None:
        a = _dispatcher(committed_db, clock, sms, telegram, batch_size=20, worker_id="a")
        b = _dispatcher(committed_db, clock, sms, telegram, batch_size=20, worker_id="b")
        await asyncio.gather(a.run_once(), b.run_once())

    asyncio.run(both())
    texts = [r.message.text for r in telegram.sent]
    assert len(texts) == 300
    assert len(set(texts)) == 300
    with committed_db.read_session() as session:
        sent = session.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.SENT))
        workers = set(session.scalars(select(DeliveryAttempt.worker)))
    assert sent == 300
    assert workers == {"a", "b"}


def test_stop_hands_back_claims_that_were_not_sent(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    _queue(committed_db, customer_id, n=5)
    dispatcher = _dispatcher(committed_db, clock, sms, telegram)
    dispatcher.stop()
    asyncio.run(dispatcher._send_batch(Channel.SMS, _claim_all(committed_db, dispatcher)))
    assert {r.status for r in _rows(committed_db)} == {OutboxStatus.PENDING}
    assert {r.attempts for r in _rows(committed_db)} == {0}


def _claim_all(db: Database, dispatcher: Dispatcher) -> list[outbox.Claimed]:
    with db.session() as session:
        return outbox.claim(
            session,
            worker=dispatcher.worker_id,
            limit=100,
            now=NOON,
            lease=dt.timedelta(minutes=1),
            quiet_hours=QuietHours(dt.time(0), dt.time(0)),
        ).ready


def test_a_delivery_report_that_came_before_the_id_is_applied_once_the_id_is_known(
    committed_db: Database, customer_id: int, clock: Clock, sms, telegram
) -> None:
    # Twilio took the message but its answer was lost: the row has no MessageSid yet when the
    # carrier's "delivered" callback arrives.
    _queue(committed_db, customer_id)
    sms.fail_for(PHONE, SendError("timeout", outcome_unknown=True), times=1, after_delivery=True)
    _run(_dispatcher(committed_db, clock, sms, telegram))
    sid = sms.sent[0].provider_id
    with committed_db.session() as session:
        held = apply_report(session, sid, OutboxStatus.DELIVERED, clock.now)
    assert held == ReportResult.HELD
    clock.now += outbox.RECONCILE_AFTER
    _run(_dispatcher(committed_db, clock, sms, telegram))  # reconciles, then applies the report
    [row] = _rows(committed_db)
    assert (row.status, row.provider_id) == (OutboxStatus.DELIVERED, sid)
    assert len(sms.sent) == 1
    with committed_db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(HeldStatusReport)) == 0
