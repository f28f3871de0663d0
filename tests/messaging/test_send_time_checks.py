"""Consent and quiet hours are checked when each message's turn comes, not when its batch was
claimed: at 1 SMS/s a batch claimed at 20:59:58 drains past 21:00, and a STOP can arrive while
it drains. Real dispatcher, real rate limiter and Twilio channel, the fake Twilio over HTTP, and
one virtual clock that the rate limiter's sleeps move forward."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Hashable

import pytest
from sqlalchemy import select, update

from messaging import outbox
from messaging.channels.sms import TwilioSmsChannel
from messaging.dispatcher import DispatchConfig, Dispatcher
from messaging.notifier import ShopVoice
from messaging.quiet_hours import QuietHours
from messaging.ratelimit import RateLimiter
from store.db import Database
from store.models import (
    Channel,
    Customer,
    DeliveryAttempt,
    OutboxMessage,
    OutboxStatus,
    ReachState,
)
from tests.clock import Clock
from tests.messaging.fake_providers import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, FakeProviders

QUIET = QuietHours(dt.time(21), dt.time(8))
# 2026-11-02 20:59:58 in New York (EST, UTC-5): two seconds before quiet hours.
BEFORE_NINE = dt.datetime(2026, 11, 3, 1, 59, 58, tzinfo=dt.UTC)
NEXT_MORNING = dt.datetime(2026, 11, 3, 13, 0, tzinfo=dt.UTC)  # 08:00 EST
NOON = dt.datetime(2026, 11, 2, 17, 0, tzinfo=dt.UTC)
ADA, BOB = "+14155550100", "+14155550101"


class VirtualTime:
    """The dispatcher's clock and the rate limiter's, as one: a limiter sleep moves both.

    ``at(seconds, action)`` runs ``action`` once the clock has moved that far, which is how a
    webhook's write lands "while the batch drains". Virtual sleeps take no real time, so the
    action may first wait (really) for what should have happened by then.
    """

    def __init__(self, start: dt.datetime) -> None:
        self.clock = Clock(start)
        self._start = start
        self._actions: list[tuple[float, Callable[[], Awaitable[None]]]] = []

    def monotonic(self) -> float:
        return (self.clock.now - self._start).total_seconds()

    async def sleep(self, seconds: float) -> None:
        self.clock.now += dt.timedelta(seconds=seconds)
        due = [a for a in self._actions if a[0] <= self.monotonic()]
        for item in due:
            self._actions.remove(item)
            await item[1]()
        await asyncio.sleep(0)

    def at(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        self._actions.append((seconds, action))


class CountingLimiter(RateLimiter):
    """The real limiter, counting the turns given back by messages held back at their turn."""

    refunds = 0

    def refund(self, key: Hashable) -> None:
        self.refunds += 1
        super().refund(key)


def _customer(db: Database, phone: str) -> int:
    with db.session() as session:
        customer = Customer(name=phone, phone=phone, timezone="America/New_York")
        session.add(customer)
        session.flush()
        return customer.id


def _queue(db: Database, now: dt.datetime, *rows: tuple[int, str, bool]) -> None:
    """Rows (customer, phone, urgent) in this order; each body is ``m<index>``."""
    with db.session() as session:
        outbox.enqueue(
            session,
            [
                outbox.QueuedMessage(
                    dedupe_key=f"t:{i}",
                    customer_id=cid,
                    channel=Channel.SMS,
                    address=phone,
                    message="broadcast",
                    locale="en",
                    body=f"m{i}",
                    urgent=urgent,
                )
                for i, (cid, phone, urgent) in enumerate(rows)
            ],
            now,
        )


def _rows(db: Database) -> dict[str, OutboxMessage]:
    with db.read_session() as session:
        return {r.body: r for r in session.scalars(select(OutboxMessage))}


async def _drain(
    db: Database, fake: FakeProviders, time: VirtualTime, limiter: CountingLimiter
) -> list[str]:
    """Run one dispatcher at 1 SMS/s until nothing is due; return the bodies Twilio got."""
    sms = TwilioSmsChannel(
        TWILIO_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN,
        from_number="+15005550006",
        base_url=fake.twilio_base_url,
    )
    config = DispatchConfig(
        quiet_hours=QUIET, rates={Channel.SMS: 1.0}, voice=ShopVoice("Shop", "help@shop.test")
    )
    dispatcher = Dispatcher(
        db, {Channel.SMS: sms}, {Channel.SMS: limiter}, config, clock=time.clock
    )
    try:
        await dispatcher.run_once()
    finally:
        await sms.close()
    return [r.fields["Body"] for r in fake.sent("twilio")]


@pytest.mark.asyncio
async def test_messages_whose_turn_comes_after_nine_wait_for_the_morning(
    committed_db: Database,
) -> None:
    ada = _customer(committed_db, ADA)
    # Claimed together at 20:59:58; at 1/s the third one's turn is 21:00:00.
    _queue(committed_db, BEFORE_NINE, *[(ada, ADA, False)] * 3, (ada, ADA, True), (ada, ADA, False))
    time = VirtualTime(BEFORE_NINE)
    limiter = CountingLimiter(1.0, 1.0, clock=time.monotonic, sleep=time.sleep)
    async with FakeProviders() as fake:
        sent = await _drain(committed_db, fake, time, limiter)
    # m3 is a confirmation of the customer's own choice: urgent, exempt from quiet hours.
    assert sent == ["m0", "m1", "m3"]
    rows = _rows(committed_db)
    for body in ("m2", "m4"):
        assert (rows[body].status, rows[body].due_at) == (OutboxStatus.PENDING, NEXT_MORNING)
        assert rows[body].attempts == 0  # waiting out quiet hours is not an attempt
    with committed_db.read_session() as session:
        logged = set(session.scalars(select(DeliveryAttempt.outbox_id)))
    assert rows["m2"].id not in logged
    assert rows["m4"].id not in logged
    assert limiter.refunds == 2  # each gave its rate-limit turn to the next message


@pytest.mark.asyncio
async def test_a_stop_that_arrives_while_the_batch_drains_stops_the_rest(
    committed_db: Database,
) -> None:
    ada, bob = _customer(committed_db, ADA), _customer(committed_db, BOB)
    _queue(
        committed_db,
        NOON,
        (ada, ADA, False),
        (bob, BOB, False),
        (ada, ADA, False),
        (bob, BOB, False),
        (ada, ADA, True),
    )
    time = VirtualTime(NOON)
    fake = FakeProviders()

    async def webhook_records_stop() -> None:
        while len(fake.sent("twilio")) < 2:  # m0 and m1 have reached Twilio
            await asyncio.sleep(0.01)
        with committed_db.session() as session:  # its own session and commit, as the webhook's
            session.execute(
                update(Customer)
                .where(Customer.id == ada)
                .values(sms_state=ReachState.OPTED_OUT, sms_state_changed_at=time.clock.now)
            )

    time.at(1.5, webhook_records_stop)  # after m0 and m1 were sent, before m2's turn
    limiter = CountingLimiter(1.0, 1.0, clock=time.monotonic, sleep=time.sleep)
    async with fake:
        sent = await _drain(committed_db, fake, time, limiter)
    assert sent == ["m0", "m1", "m3"]
    rows = _rows(committed_db)
    for body in ("m2", "m4"):  # urgent or not: consent is not optional
        assert (rows[body].status, rows[body].last_error) == (OutboxStatus.SKIPPED, "opted_out")
    assert limiter.refunds == 2


def test_a_crash_after_the_check_leaves_the_row_unknown_not_resent(
    committed_db: Database,
) -> None:
    from messaging.send_gate import Turn, check_and_mark  # here, so the others run without it

    ada = _customer(committed_db, ADA)
    _queue(committed_db, NOON, (ada, ADA, False), (ada, ADA, False))
    lease = dt.timedelta(minutes=1)
    with committed_db.session() as session:
        claimed = outbox.claim(
            session, worker="w", limit=2, now=NOON, lease=lease, quiet_hours=QUIET
        ).ready
    first, second = (Turn(c, NOON) for c in claimed)
    with committed_db.session() as session:
        check_and_mark(session, [first], "w", QUIET)
    assert first.verdict == "send"
    # The worker dies here: one row passed the check (its request may have left), one did not.
    with committed_db.session() as session:
        assert outbox.recover_expired_leases(session, NOON + 2 * lease) == (1, 1)
    statuses = {r.id: r.status for r in _rows(committed_db).values()}
    assert statuses[first.claimed.id] == OutboxStatus.UNKNOWN  # reconciled, never resent blindly
    assert statuses[second.claimed.id] == OutboxStatus.PENDING  # nothing left: sent later
