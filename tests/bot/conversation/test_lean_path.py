"""The lean path (status questions and help from Core rows) says what the full path says.

``Conversation.handle_common`` answers from ``bot.conversation.rows`` instead of ORM objects;
its replies must be the full path's, byte for byte, for every kind of order (open offers,
decided ones, shipments, cancelled and switched lines), in every locale and on both channels.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversation import Conversation, Incoming, Sender, rows
from messaging.notifier import OrderLinks
from store import sample
from store.models import Channel, Customer, Offer, OfferChoice, OfferStatus, Order, OrderLine
from store.offers import accept_offer
from store.policy import DEFAULT_POLICY
from store.shipments import ship
from tests.factories import NOW

LATER = NOW + dt.timedelta(hours=2)
LINKS = OrderLinks.from_secret("https://shop.example", b"k" * 32)


def _shop(session: Session) -> None:
    data = sample.generate(customers=24, orders=60, seed=5, now=NOW)
    sample.load(session, data, policy=DEFAULT_POLICY, now=NOW)
    session.flush()
    shippable = session.scalars(
        select(Order.number).join(OrderLine).where(OrderLine.allocated_quantity > 0).limit(3)
    ).all()
    for number in shippable:
        ship(session, number, carrier="UPS", tracking="1Z9", now=LATER)
    offers = session.scalars(
        select(Offer)
        .where(Offer.status == OfferStatus.OPEN, Offer.expires_at > LATER)
        .order_by(Offer.id.desc())
        .limit(6)
    ).all()
    choices = itertools.cycle((OfferChoice.CANCEL, OfferChoice.WAIT, OfferChoice.SWITCH))
    for offer in offers:
        accept_offer(session, offer.id, next(choices), via="sms", now=LATER, policy=DEFAULT_POLICY)
    session.flush()
    session.expire_all()


def _conversation(session: Session) -> Conversation:
    return Conversation(
        session,
        shop_name="Casa Verde",
        support_contact="+1 415 555 0134",
        policy=DEFAULT_POLICY,
        now=LATER,
        order_links=LINKS,
    )


def _texts(number: str, other: str) -> list[str]:
    return [
        "STATUS",
        "status",
        "where is my order",
        "¿dónde está mi pedido?",
        f"STATUS {number}",
        f"status {number.lower()}",
        f"STATUS {other}",  # someone else's: the same "not found" as a number that is not there
        "STATUS NO-SUCH-1",
        "HELP",
        "ayuda",
    ]


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.TELEGRAM])
def test_lean_answers_are_the_full_paths_byte_for_byte(session: Session, channel: Channel) -> None:
    _shop(session)
    customers = session.scalars(select(Customer).order_by(Customer.id)).all()
    numbers = {
        c.id: session.scalars(select(Order.number).where(Order.customer_id == c.id)).first()
        for c in customers
    }
    locales = set()
    compared = 0
    for customer, neighbour in zip(customers, customers[1:] + customers[:1], strict=True):
        own, other = numbers[customer.id], numbers[neighbour.id]
        if own is None or other is None:
            continue
        row = rows.customer_by_phone(session.connection(), customer.phone or "")
        assert row is not None
        locales.add(customer.locale)
        for text in _texts(own, other):
            sender = Sender(customer.id)
            full = _conversation(session).handle(channel, sender, Incoming(text))
            lean = _conversation(session).handle_common(channel, sender, Incoming(text), row)
            assert lean is not None, text  # the lean path did answer
            assert lean == full, (customer.locale, text)
            compared += 1
    assert compared > 150
    assert {"en", "es"} <= locales


def test_other_messages_are_left_to_the_full_path(session: Session) -> None:
    _shop(session)
    customer = session.scalars(select(Customer).order_by(Customer.id)).first()
    assert customer is not None
    assert customer.phone is not None
    row = rows.customer_by_phone(session.connection(), customer.phone)
    assert row is not None
    for incoming in (Incoming("STOP"), Incoming("1"), Incoming("hola?"), Incoming.button("x")):
        lean = _conversation(session).handle_common(Channel.SMS, Sender(row.id), incoming, row)
        assert lean is None
    group = Sender(row.id, chat_is_private=False)
    assert (
        _conversation(session).handle_common(Channel.TELEGRAM, group, Incoming("STATUS"), row)
        is None
    )
