"""Failed and unknown deliveries reach the agents' inbox when they happen (issue 13), not when
someone opens the inbox page, and each once, whoever sees the failure first."""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing

import pytest
from sqlalchemy import event, select

from messaging import outbox
from messaging.channels.base import SendError
from messaging.channels.sandbox import SandboxChannel
from messaging.delivery_reports import apply_report
from messaging.dispatcher import DispatchConfig, Dispatcher, Unlimited
from messaging.notifier import ShopVoice
from messaging.quiet_hours import QuietHours
from store import inbox
from store.db import Database
from store.models import Channel, Customer, OutboxMessage, OutboxStatus
from store.tables_inbox import InboxItem, InboxKind
from tests.clock import Clock

NOON = dt.datetime(2026, 11, 2, 17, 0, tzinfo=dt.UTC)
PHONE = "+14155550100"
ANY_TIME = QuietHours(dt.time(0), dt.time(0))


@pytest.fixture
def customer_id(committed_db: Database) -> int:
    with committed_db.session() as session:
        customer = Customer(name="Ada", phone=PHONE, timezone="America/New_York")
        session.add(customer)
        session.flush()
        return customer.id


def _queue(db: Database, customer_id: int, n: int = 1) -> None:
    with db.session() as session:
        outbox.enqueue(
            session,
            [
                outbox.QueuedMessage(
                    dedupe_key=f"inbox-test:{i}",
                    customer_id=customer_id,
                    channel=Channel.SMS,
                    address=PHONE,
                    message="broadcast",
                    locale="en",
                    body=f"hello {i}",
                )
                for i in range(n)
            ],
            NOON,
        )


def _dispatch(db: Database, sms: SandboxChannel, clock: Clock) -> None:
    config = DispatchConfig(
        quiet_hours=ANY_TIME, rates={Channel.SMS: 100.0}, voice=ShopVoice("Shop", "h@shop.test")
    )
    dispatcher = Dispatcher(db, {Channel.SMS: sms}, {Channel.SMS: Unlimited()}, config, clock=clock)
    asyncio.run(dispatcher.run_once())


def _items(db: Database) -> list[tuple[InboxKind, int | None, int | None, str | None]]:
    """Read straight from the table: nothing here opens the inbox (which would sweep)."""
    with db.read_session() as session:
        rows = session.scalars(select(InboxItem).order_by(InboxItem.id))
        return [(i.kind, i.customer_id, i.outbox_id, i.detail) for i in rows]


def _outbox_ids(db: Database) -> list[int]:
    with db.read_session() as session:
        return list(session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))


def test_a_send_that_failed_for_good_is_in_the_inbox_without_opening_it(
    committed_db: Database, customer_id: int
) -> None:
    _queue(committed_db, customer_id)
    sms = SandboxChannel(Channel.SMS)
    sms.fail_for(PHONE, SendError("sms_bad_request", "21602", permanent=True))
    _dispatch(committed_db, sms, Clock(NOON))
    [row_id] = _outbox_ids(committed_db)
    assert _items(committed_db) == [
        (InboxKind.DELIVERY_FAILED, customer_id, row_id, "sms_bad_request: 21602")
    ]


def test_a_send_whose_outcome_is_unknown_is_in_the_inbox(
    committed_db: Database, customer_id: int
) -> None:
    _queue(committed_db, customer_id)
    sms = SandboxChannel(Channel.SMS)
    sms.fail_for(PHONE, SendError("timeout", outcome_unknown=True), times=1)
    _dispatch(committed_db, sms, Clock(NOON))
    [(kind, _, row_id, _)] = _items(committed_db)
    assert (kind, row_id) == (InboxKind.DELIVERY_UNKNOWN, _outbox_ids(committed_db)[0])


def test_a_row_left_in_flight_by_a_dead_worker_is_in_the_inbox(
    committed_db: Database, customer_id: int
) -> None:
    _queue(committed_db, customer_id)
    with committed_db.session() as session:
        [claimed] = outbox.claim(
            session,
            worker="dead",
            limit=1,
            now=NOON,
            lease=dt.timedelta(minutes=1),
            quiet_hours=ANY_TIME,
        ).ready
        outbox.mark_sending(session, [claimed.id], "dead")
    later = NOON + dt.timedelta(minutes=2)
    with committed_db.session() as session:
        assert outbox.recover_expired_leases(session, later) == (0, 1)
    assert [(k, o) for k, _, o, _ in _items(committed_db)] == [
        (InboxKind.DELIVERY_UNKNOWN, claimed.id)
    ]


def test_an_undelivered_report_is_in_the_inbox_once_whoever_sees_it(
    committed_db: Database, customer_id: int
) -> None:
    _queue(committed_db, customer_id)
    sms = SandboxChannel(Channel.SMS)
    _dispatch(committed_db, sms, Clock(NOON))
    sid = sms.sent[0].provider_id
    assert _items(committed_db) == []  # sent: nothing for a person
    with committed_db.session() as session:
        apply_report(session, sid, OutboxStatus.UNDELIVERED, NOON, error="30003")
    with committed_db.session() as session:
        apply_report(session, sid, OutboxStatus.FAILED, NOON, error="30003")  # no step forward
    [row_id] = _outbox_ids(committed_db)
    assert _items(committed_db) == [(InboxKind.DELIVERY_FAILED, customer_id, row_id, "30003")]


def test_an_unknown_send_later_reported_failed_is_one_item(
    committed_db: Database, customer_id: int
) -> None:
    # The dispatcher files it as unknown; reconciliation finds it sent; then its report says
    # it failed: one item for the one message.
    _queue(committed_db, customer_id)
    sms = SandboxChannel(Channel.SMS)
    sms.fail_for(PHONE, SendError("timeout", outcome_unknown=True), times=1, after_delivery=True)
    clock = Clock(NOON)
    _dispatch(committed_db, sms, clock)
    clock.now += outbox.RECONCILE_AFTER
    _dispatch(committed_db, sms, clock)
    with committed_db.session() as session:
        apply_report(session, sms.sent[0].provider_id, OutboxStatus.FAILED, clock.now, "30008")
    assert [k for k, *_ in _items(committed_db)] == [InboxKind.DELIVERY_UNKNOWN]


def test_successful_sends_cost_no_inbox_statement(committed_db: Database, customer_id: int) -> None:
    _queue(committed_db, customer_id, n=20)
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(committed_db.engine, "before_cursor_execute", record)
    try:
        _dispatch(committed_db, SandboxChannel(Channel.SMS), Clock(NOON))
    finally:
        event.remove(committed_db.engine, "before_cursor_execute", record)
    assert statements, "the listener saw the dispatcher's statements"
    assert not [s for s in statements if "inbox_items" in s]


def _file_one_by_one(url: str, ids: list[int], start: object) -> None:
    """File each row in a transaction of its own: the one behind catches up (the rows it
    finds filed cost nothing) and then the two meet on the same rows."""
    db = Database(url)
    start.wait()  # type: ignore[attr-defined]
    try:
        for outbox_id in ids:
            db.transaction(lambda s, i=outbox_id: inbox.file_delivery_failures(s, NOON, [i]))
    finally:
        db.dispose()


def test_two_processes_filing_the_same_failures_file_each_once(
    committed_db: Database, customer_id: int
) -> None:
    _queue(committed_db, customer_id, n=300)
    with committed_db.session() as session:
        session.execute(OutboxMessage.__table__.update().values(status=OutboxStatus.FAILED))
    ids = _outbox_ids(committed_db)
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Event()
    workers = [
        spawn.Process(target=_file_one_by_one, args=(committed_db.url, ids, start))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert sorted(o for _, _, o, _ in _items(committed_db)) == ids
