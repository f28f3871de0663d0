"""Which words ask for a person, what a Telegram hand-off does, and what else is filed: messages
given up on, and a Telegram chat linked by a failed token."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.agents.handoff import asks_for_person
from bot.conversation import Incoming
from bot.inbound import Inbound, Received
from store.db import Database
from store.models import Channel, InboundMessage
from store.policy import DEFAULT_POLICY
from store.tables_inbox import InboxItem, InboxMessage
from tests import factories as f
from tests.clock import Clock
from tests.factories import NOW

CHAT = 7_000_000_001


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("agent", "en"),
        ("Agent!", "en"),
        ("HUMAN", "en"),
        ("can I talk to a real person?", "en"),
        ("I want to speak to someone", "en"),
        ("representative", "en"),
        ("hablar con una persona", "es"),
        ("Quiero hablar con alguien por favor", "es"),
        ("agente", "es"),
        ("humano", "es"),
        ("/human", "en"),
        ("/agente@casaverde_bot", "es"),
    ],
)
def test_these_ask_for_a_person(text: str, language: str) -> None:
    assert asks_for_person(text) == (True, language)


@pytest.mark.parametrize(
    "text",
    [
        "where is my order?",
        "STOP",
        "1",
        "someone",  # alone it asks for nothing
        "/start Xagent9person",  # a link token, whatever it spells
        "thanks",
        "",
        # A long story that mentions a person is not a request for one (the bot says it did
        # not understand, and the message is filed for a person anyway).
        "the delivery person left the box at the wrong door again and it rained all day so "
        "the cardboard was soaked and the mug inside was broken",
    ],
)
def test_these_do_not(text: str) -> None:
    assert asks_for_person(text)[0] is False


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


def telegram(update_id: int, text: str) -> Received:
    return Received(Channel.TELEGRAM, str(update_id), str(CHAT), Incoming(text=text))


def test_a_telegram_hand_off_is_silent_until_closed_and_stop_still_works(
    inbound: Inbound, committed_db: Database
) -> None:
    with committed_db.session() as session:
        ada = f.customer(session, "Ada", phone="+14155550171")
        ada.telegram_chat_id = CHAT
    started = inbound.handle(telegram(1, "/human"))
    assert started.text_to_send is not None
    assert "a person from our team will answer" in started.text_to_send
    assert inbound.handle(telegram(2, "/status")).text_to_send is None
    stopped = inbound.handle(telegram(3, "/stop"))
    assert stopped.text_to_send is not None  # opting out is always answered
    with committed_db.read_session() as session:
        kinds = session.scalars(select(InboxMessage.kind).order_by(InboxMessage.inbound_id)).all()
    assert [k.value for k in kinds] == ["human_requested", "handed_off", "opted_out"]


def test_a_failed_link_token_is_filed_for_a_person(
    inbound: Inbound, committed_db: Database
) -> None:
    handled = inbound.handle(telegram(4, "/start not-a-real-token"))
    assert handled.text_to_send is not None
    with committed_db.read_session() as session:
        item = session.scalars(select(InboxItem)).one()
    assert (item.kind.value, item.customer_id, item.sender) == ("link_failed", None, str(CHAT))


def test_messages_given_up_on_are_filed(
    inbound: Inbound, committed_db: Database, clock: Clock
) -> None:
    assert inbound.record(telegram(5, "3"))  # logged, never handled
    clock.now += dt.timedelta(hours=2)
    given = inbound.give_up_telegram_updates(dt.timedelta(minutes=1))
    assert [g.provider_id for g in given] == ["5"]
    with committed_db.read_session() as session:
        filed = session.execute(
            select(InboundMessage.provider_id, InboxMessage.kind).join(
                InboxMessage, InboxMessage.inbound_id == InboundMessage.id
            )
        ).all()
    assert [(p, k.value) for p, k in filed] == [("5", "given_up")]
