"""The inbound service on a real database with real commits: logged first, handled once."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from typing import Any

import psycopg.errors
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.conversation import Action, Conversation, Incoming, core
from bot.inbound import Inbound, Received
from store import retry
from store.db import Database
from store.models import (
    Channel,
    Customer,
    InboundMessage,
    LineStatus,
    Offer,
    OfferStatus,
    Order,
    ReachState,
)
from store.offers import OfferOutcome
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.clock import Clock
from tests.factories import NOW

ETA = dt.date(2026, 12, 15)
PHONE = "+14155550161"
OTHER_PHONE = "+14155550162"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW + dt.timedelta(hours=1))


@pytest.fixture
def inbound(committed_db: Database, clock: Clock) -> Inbound:
    return Inbound(
        committed_db,
        shop_name="Casa Verde",
        support_contact="+1 415 555 0134",
        policy=DEFAULT_POLICY,
        phone_region="US",
        clock=clock,
    )


@pytest.fixture
def backordered(committed_db: Database) -> str:
    """A customer at PHONE whose order A1001 waits for MUG (an alternative is in stock)."""
    with committed_db.session() as session:
        f.product(session, "MUG-ALT", stock=10, category="mugs")
        f.product(session, "MUG", eta=ETA, category="mugs", alternatives=("MUG-ALT",))
        f.order(session, "A1001", [("MUG", 1)], who=f.customer(session, phone=PHONE))
    return "A1001"


def sms(text: str, sender: str = PHONE, sid: str | None = None, **incoming: object) -> Received:
    return Received(
        Channel.SMS,
        sid or "SM" + secrets.token_hex(16),
        sender,
        Incoming(text, **incoming),  # type: ignore[arg-type]
    )


def logged(db: Database, provider_id: str) -> InboundMessage:
    with db.read_session() as session:
        return session.scalars(
            select(InboundMessage).where(InboundMessage.provider_id == provider_id)
        ).one()


def test_a_message_is_answered_and_logged_as_handled(
    inbound: Inbound, committed_db: Database, backordered: str
) -> None:
    message = sms("where is my order?")
    handled = inbound.handle(message)
    assert not handled.duplicate
    assert "A1001" in (handled.text_to_send or "")
    row = logged(committed_db, message.provider_id)
    assert row.handled_at is not None
    assert (row.intent, row.actions, row.reply_message) == (
        "status",
        "status_shown",
        "status_reply",
    )
    assert row.body == "where is my order?"


def test_a_second_delivery_of_the_same_message_is_not_handled_again(
    inbound: Inbound, committed_db: Database, backordered: str
) -> None:
    message = sms("2")
    first = inbound.handle(message)
    second = inbound.handle(message)
    assert Action.OFFER_ACCEPTED in first.actions
    assert second.duplicate
    assert second.text_to_send is None
    with committed_db.read_session() as session:
        rows = session.scalars(
            select(InboundMessage.id).where(InboundMessage.provider_id == message.provider_id)
        ).all()
        assert len(rows) == 1
        order = session.scalars(select(Order).where(Order.number == backordered)).one()
        assert order.lines[0].status == LineStatus.SWITCHED


def test_two_deliveries_at_once_are_handled_exactly_once(
    inbound: Inbound, backordered: str
) -> None:
    message = sms("STATUS")
    results = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        results.append(inbound.handle(message))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.duplicate for r in results) == [False, True, True, True]


def test_a_message_whose_handling_fails_stays_logged_and_the_retry_handles_it(
    inbound: Inbound,
    committed_db: Database,
    backordered: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = sms("STATUS")
    original, original_common = Conversation.handle, Conversation.handle_common

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    # Both paths: a status question is answered by the lean one (handle_common).
    monkeypatch.setattr(Conversation, "handle", broken)
    monkeypatch.setattr(Conversation, "handle_common", broken)
    with pytest.raises(RuntimeError):
        inbound.handle(message)
    row = logged(committed_db, message.provider_id)
    assert row.handled_at is None
    assert row.body == "STATUS"

    monkeypatch.setattr(Conversation, "handle", original)
    monkeypatch.setattr(Conversation, "handle_common", original_common)
    retried = inbound.handle(message)
    assert not retried.duplicate
    assert retried.reply is not None
    assert logged(committed_db, message.provider_id).handled_at is not None


def test_an_unknown_number_is_told_we_have_no_orders_for_it(inbound: Inbound) -> None:
    handled = inbound.handle(sms("STATUS", sender="+14155550999"))
    assert handled.reply is not None
    assert handled.reply.message == "not_linked"


def test_a_sender_that_is_not_a_phone_number_is_handled_as_unknown(inbound: Inbound) -> None:
    handled = inbound.handle(sms("STATUS", sender="ShopAlerts"))
    assert handled.reply is not None
    assert Action.UNKNOWN_SENDER in handled.actions


def test_repeated_misses_are_rate_limited_with_the_same_answer_for_own_orders(
    inbound: Inbound, backordered: str, clock: Clock
) -> None:
    for guess in range(5):
        reply = inbound.handle(sms(f"STATUS B{2000 + guess}")).reply
        assert reply is not None
        assert reply.message == "order_not_found"
    # Now even the sender's own order is refused: the answer tells nothing either way.
    for number in ("B3000", backordered):
        blocked = inbound.handle(sms(f"STATUS {number}")).reply
        assert blocked is not None
        assert blocked.message == "too_many_attempts"
    # A plain STATUS (no guessing involved) still works.
    plain = inbound.handle(sms("STATUS")).reply
    assert plain is not None
    assert plain.message == "status_reply"
    # Another sender is not affected; and the window passes.
    other = inbound.handle(sms("STATUS B2000", sender=OTHER_PHONE)).reply
    assert other is not None
    assert other.message == "not_linked"
    clock.now += dt.timedelta(hours=1, seconds=1)
    again = inbound.handle(sms(f"STATUS {backordered}")).reply
    assert again is not None
    assert again.message == "status_reply"


def test_a_10000_character_body_gets_a_bounded_answer_and_a_bounded_log(
    inbound: Inbound, committed_db: Database, backordered: str
) -> None:
    message = sms("¿dónde está mi pedido? " + "مرحبا 🙂 " * 1250)
    handled = inbound.handle(message)
    assert handled.reply is not None
    assert len(handled.reply.text or "") < 1600
    assert len(logged(committed_db, message.provider_id).body or "") <= 2000


def test_a_provider_handled_stop_is_recorded_silently(
    inbound: Inbound, committed_db: Database, backordered: str
) -> None:
    handled = inbound.handle(sms("stop", opt_out_type="STOP"))
    assert handled.reply is not None
    assert handled.text_to_send is None
    with committed_db.read_session() as session:
        customer = session.scalars(select(Customer).where(Customer.phone == PHONE)).one()
        assert customer.sms_state == ReachState.OPTED_OUT


def test_a_choice_confirmed_through_the_outbox_is_not_answered_inline(
    inbound: Inbound, backordered: str
) -> None:
    handled = inbound.handle(sms("1"))
    assert handled.reply is not None
    assert handled.reply.also_queued
    assert handled.text_to_send is None


def telegram_update(update_id: int, chat_id: int, text: str) -> Received:
    payload = {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "A"},
            "text": text,
        },
    }
    return Received(Channel.TELEGRAM, str(update_id), str(chat_id), Incoming(text), payload=payload)


def test_logged_but_unhandled_telegram_updates_are_listed_for_replay(
    inbound: Inbound, clock: Clock
) -> None:
    stranded = telegram_update(71, 9_000_000_001, "STATUS")
    handled = telegram_update(72, 9_000_000_001, "HELP")
    inbound.record(stranded)
    inbound.handle(handled)
    assert inbound.unhandled_telegram_updates(dt.timedelta(seconds=60)) == []
    clock.now += dt.timedelta(minutes=2)
    assert inbound.unhandled_telegram_updates(dt.timedelta(seconds=60)) == [stranded.payload]


def test_record_says_whether_the_message_is_new(inbound: Inbound) -> None:
    # The Telegram webhook queues an update only when this is True (it was -1 on PostgreSQL).
    message = sms("STATUS")
    assert inbound.record(message) is True
    assert inbound.record(message) is False


def test_a_choice_whose_transaction_is_a_deadlock_victim_is_retried_and_kept(
    inbound: Inbound,
    committed_db: Database,
    backordered: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = core.accept_offer
    calls: list[int] = []

    def deadlocked_once(*args: Any, **kwargs: Any) -> OfferOutcome:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE", {}, psycopg.errors.DeadlockDetected("deadlock"))
        return real(*args, **kwargs)

    monkeypatch.setattr(core, "accept_offer", deadlocked_once)
    monkeypatch.setattr(retry, "BASE_DELAY_S", 0.0)
    handled = inbound.handle(sms("1"))
    assert handled.reply is not None
    assert not handled.duplicate
    assert len(calls) == 2
    with committed_db.read_session() as session:
        offer = session.scalars(select(Offer)).one()
    assert offer.status == OfferStatus.ACCEPTED


@pytest.mark.parametrize("text", ["STATUS", "STATUS A1001", "STATUS B9", "HELP", "dónde está"])
def test_the_lean_path_logs_and_answers_as_the_full_path(
    inbound: Inbound,
    committed_db: Database,
    backordered: str,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
) -> None:
    answered: list[object] = []
    common = Conversation.handle_common

    def spy(*args: Any, **kwargs: Any) -> Any:
        answered.append(result := common(*args, **kwargs))
        return result

    monkeypatch.setattr(Conversation, "handle_common", spy)
    lean = inbound.handle(message := sms(text))
    assert lean.reply is not None
    assert answered  # the lean path was tried
    assert answered[0] is not None  # and it answered
    monkeypatch.setattr(Conversation, "handle_common", lambda *args, **kwargs: None)
    full = inbound.handle(other := sms(text))
    assert full.reply is not None
    assert (lean.reply.text, lean.reply.message, lean.actions) == (
        full.reply.text,
        full.reply.message,
        full.actions,
    )
    columns = ("customer_id", "intent", "actions", "reply_message", "missed")
    lean_row, full_row = (
        logged(committed_db, message.provider_id),
        logged(committed_db, other.provider_id),
    )
    assert [getattr(lean_row, c) for c in columns] == [getattr(full_row, c) for c in columns]
