"""Every message the notifier queues about an order carries the order page link, within the SMS
budget: the link goes in as the last line unless it would take the SMS past
``SMS_SEGMENT_BUDGET`` segments, and then the message goes without it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.notifier import OrderLinks, ShopVoice, notify_pending
from messaging.render import SMS_SEGMENT_BUDGET
from messaging.segments import count_segments
from store.delays import check_delays
from store.eta import set_eta
from store.models import (
    Channel,
    Customer,
    LineStatus,
    Offer,
    OfferChoice,
    Order,
    OrderLine,
    OutboxMessage,
    Product,
)
from store.offers import accept_offer, expire_offers
from store.order_links import find_order_id, revoke
from store.policy import DEFAULT_POLICY
from store.shipments import ship
from store.stock import receive_stock
from tests import factories as f
from tests.factories import NOW

BASE = "https://tienda-ejemplo.example.com"
LINKS = OrderLinks.from_secret(BASE, b"test secret")
VOICE = ShopVoice("Casa Ejemplo", "ayuda@tienda-ejemplo.example.com", LINKS)
LINK = re.compile(re.escape(BASE) + r"/o/([A-Za-z0-9_-]{22})")
# A long product name and order number: the budget is tested near its edge.
LONG_NAME = "Cafetera espresso de acero inoxidable 1,5 l"
ALTERNATIVE = "Cafetera italiana de aluminio 12 tazas"
ALL_MESSAGES = {
    "backorder_notice",
    "eta_changed",
    "delay_notice",
    "ready_to_ship",
    "offer_expired",
    "wait_confirmed",
    "switch_confirmed",
    "cancel_confirmed",
    "shipped",
}


def _customer(session: Session, locale: str, channel: Channel = Channel.SMS) -> Customer:
    who = f.customer(session, name="María José Fernández")
    who.locale = locale
    who.preferred_channel = channel
    if channel is Channel.TELEGRAM:
        who.telegram_chat_id = 700_000 + who.id
    return who


def _catalog(session: Session) -> None:
    f.product(session, "ALT", stock=100, price_cents=8_990)
    f.product(session, "ESP", eta=dt.date(2026, 12, 24), price_cents=9_990, alternatives=("ALT",))
    for sku, name in (("ESP", LONG_NAME), ("ALT", ALTERNATIVE)):
        product = session.scalars(select(Product).where(Product.sku == sku)).one()
        product.name = name


def _offer_of(session: Session, number: str) -> int:
    order = session.scalars(select(Order).where(Order.number == number)).one()
    return session.scalars(
        select(Offer.id).where(Offer.line_id.in_([line.id for line in order.lines]))
    ).all()[-1]


def _every_kind_of_message(session: Session, locale: str, channel: Channel) -> Customer:
    """One customer, several orders, and each kind of message the notifier sends about them."""
    _catalog(session)
    who = _customer(session, locale, channel)
    for number in ("PED-2026-000101", "PED-2026-000102", "PED-2026-000103", "PED-2026-000104"):
        f.order(session, number, [("ESP", 2)], who=who)
    now = NOW + dt.timedelta(hours=1)
    for number, choice in (
        ("PED-2026-000101", OfferChoice.WAIT),
        ("PED-2026-000102", OfferChoice.SWITCH),
        ("PED-2026-000103", OfferChoice.CANCEL),
    ):
        # Chosen on the customer's own channel: a confirmation goes back where the choice was made.
        accept_offer(
            session,
            _offer_of(session, number),
            choice,
            via=channel.value,
            now=now,
            policy=DEFAULT_POLICY,
        )
    # Earlier than promised: an ``eta_changed``; then later (within the rule's 30 days, so
    # silence waits): a ``delay_notice`` at once.
    set_eta(session, "ESP", dt.date(2026, 12, 20), source="agent", policy=DEFAULT_POLICY, now=now)
    set_eta(session, "ESP", dt.date(2027, 1, 15), source="agent", policy=DEFAULT_POLICY, now=now)
    expire_offers(session, NOW + dt.timedelta(days=8), DEFAULT_POLICY)
    check_delays(session, NOW + dt.timedelta(days=40), DEFAULT_POLICY)
    receive_stock(session, "ESP", 2, now=NOW + dt.timedelta(days=41))
    ready = session.scalars(
        select(Order.number)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.customer_id == who.id, OrderLine.status == LineStatus.ALLOCATED)
    ).first()
    assert ready is not None
    ship(
        session,
        ready,
        carrier="Correos Express",
        tracking="PK7Q2X9A0ES28001",
        tracking_url="https://s.correos-express.example/t?n=PK7Q2X9A0ES28001",
        now=NOW + dt.timedelta(days=41),
    )
    notify_pending(session, VOICE, NOW + dt.timedelta(days=41))
    return who


def _messages(session: Session, who: Customer) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.customer_id == who.id)
            .order_by(OutboxMessage.id)
        )
    )


@pytest.mark.parametrize("locale", ["en", "es"])
def test_every_sms_about_an_order_carries_its_link_within_the_budget(
    session: Session, locale: str
) -> None:
    who = _every_kind_of_message(session, locale, Channel.SMS)
    messages = _messages(session, who)
    assert {m.message for m in messages} == ALL_MESSAGES
    for message in messages:
        found = LINK.search(message.body)
        assert found is not None, message.body
        assert message.body.endswith(found.group()), "the link is the last line"
        assert count_segments(message.body).segments <= SMS_SEGMENT_BUDGET, message.body
        order_id = find_order_id(session, found.group(1))
        assert order_id is not None
        number = session.get_one(Order, order_id).number
        assert number in message.body, "the link opens the order the message is about"


@pytest.mark.parametrize("locale", ["en", "es"])
def test_every_telegram_message_about_an_order_links_its_page(
    session: Session, locale: str
) -> None:
    who = _every_kind_of_message(session, locale, Channel.TELEGRAM)
    messages = _messages(session, who)
    assert {m.message for m in messages} == ALL_MESSAGES
    for message in messages:
        assert re.search(r'<a href="' + LINK.pattern + '">', message.body), message.body


def test_messages_about_one_order_carry_the_same_link(session: Session) -> None:
    _catalog(session)
    who = _customer(session, "en")
    f.order(session, "A1", [("ESP", 1)], who=who)
    notify_pending(session, VOICE, NOW)
    set_eta(session, "ESP", dt.date(2027, 1, 31), source="agent", policy=DEFAULT_POLICY, now=NOW)
    notify_pending(session, VOICE, NOW)
    links = {LINK.search(m.body).group() for m in _messages(session, who)}  # type: ignore[union-attr]
    assert len(_messages(session, who)) == 2
    assert len(links) == 1


def test_after_a_revocation_the_next_message_brings_a_new_link(session: Session) -> None:
    _catalog(session)
    who = _customer(session, "en")
    order = f.order(session, "A1", [("ESP", 1)], who=who)
    notify_pending(session, VOICE, NOW)
    revoke(session, order.id, NOW)
    set_eta(session, "ESP", dt.date(2027, 1, 31), source="agent", policy=DEFAULT_POLICY, now=NOW)
    notify_pending(session, VOICE, NOW)
    first, second = (LINK.search(m.body).group(1) for m in _messages(session, who))  # type: ignore[union-attr]
    assert first != second
    assert find_order_id(session, first) is None
    assert find_order_id(session, second) == order.id


def test_an_sms_the_link_would_take_over_the_budget_goes_without_it(session: Session) -> None:
    long_base = "https://" + "very-long-subdomain." * 8 + "example.com"
    voice = ShopVoice("Casa Ejemplo", "help", OrderLinks.from_secret(long_base, b"k"))
    _catalog(session)
    sms, telegram = _customer(session, "es"), _customer(session, "es", Channel.TELEGRAM)
    f.order(session, "A1", [("ESP", 1)], who=sms)
    f.order(session, "A2", [("ESP", 1)], who=telegram)
    notify_pending(session, voice, NOW)
    [sms_body] = [m.body for m in _messages(session, sms)]
    [telegram_body] = [m.body for m in _messages(session, telegram)]
    assert "/o/" not in sms_body
    assert count_segments(sms_body).segments <= SMS_SEGMENT_BUDGET
    assert long_base + "/o/" in telegram_body, "Telegram has no segment budget"


def test_without_order_links_messages_have_no_link(session: Session) -> None:
    _catalog(session)
    who = _customer(session, "en")
    f.order(session, "A1", [("ESP", 1)], who=who)
    notify_pending(session, ShopVoice("Casa Ejemplo", "help"), NOW)
    [message] = _messages(session, who)
    assert "/o/" not in message.body
