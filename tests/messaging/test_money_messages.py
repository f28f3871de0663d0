"""Messages show prices in the currency's own digits, a switch never shows another currency's
price, and the wait discount is an amount rounded half-up to one minor unit (JPY, KWD)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.notifier import ShopVoice, notify_pending
from store.models import Channel, Offer, OfferChoice, OutboxMessage, Product
from store.money import parse_amount
from store.offers import accept_offer
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW

VOICE = ShopVoice("Casa Test", "help@casa.test")
ETA = dt.date(2026, 12, 24)


def _catalog(session: Session, currency: str, price: str, alternative: str) -> None:
    """A backordered TEA with an in-stock alternative ALT, prices given as the shop types them."""
    f.product(
        session, "ALT", stock=5, currency=currency, price_cents=parse_amount(alternative, currency)
    )
    f.product(
        session,
        "TEA",
        eta=ETA,
        currency=currency,
        price_cents=parse_amount(price, currency),
        alternatives=("ALT",),
        discount_percent=10,
    )


def _bodies(session: Session, message: str, channel: Channel = Channel.SMS) -> list[str]:
    notify_pending(session, VOICE, NOW)
    return list(
        session.scalars(
            select(OutboxMessage.body).where(
                OutboxMessage.message == message, OutboxMessage.channel == channel
            )
        )
    )


@pytest.mark.parametrize(
    ("currency", "alternative", "shown", "wrong"),
    [("JPY", "1500", "(¥1,500)", "150,000"), ("KWD", "12.5", "(KWD12.500)", "KWD1.250")],
)
def test_the_switch_price_is_shown_in_the_currencys_own_digits(
    session: Session, currency: str, alternative: str, shown: str, wrong: str
) -> None:
    _catalog(session, currency, "1400", alternative)
    f.order(session, "A1", [("TEA", 1)])
    [body] = _bodies(session, "backorder_notice")
    assert shown in body
    assert wrong not in body


def test_a_switch_never_shows_another_currencys_price(session: Session) -> None:
    _catalog(session, "USD", "14.00", "15.00")
    f.order(session, "A1", [("TEA", 1)])
    assert session.scalars(select(Offer.alternative_product_id)).one() is not None
    # The alternative is re-priced in yen after the offer was made.
    alt = session.scalars(select(Product).where(Product.sku == "ALT")).one()
    alt.currency, alt.price_cents = "JPY", 1500
    [body] = _bodies(session, "backorder_notice")
    assert "¥" not in body
    assert "$15.00" not in body
    assert "$1,500" not in body


@pytest.mark.parametrize(
    ("currency", "price", "quantity", "off"),
    [
        ("JPY", "1005", 1, "¥101"),  # 100.5 yen rounds half-up
        ("JPY", "335", 3, "¥101"),  # 10% of the line (1,005), not of one unit
        ("KWD", "12.345", 1, "KWD1.235"),  # 1.2345 rounds half-up to the fils
    ],
)
@pytest.mark.parametrize("channel", [Channel.SMS, Channel.TELEGRAM])
def test_the_wait_discount_is_an_amount_rounded_half_up(
    session: Session, currency: str, price: str, quantity: int, off: str, channel: Channel
) -> None:
    _catalog(session, currency, price, "1")
    who = f.customer(session)
    who.preferred_channel = channel
    who.telegram_chat_id = 5_000_000_001
    f.order(session, "A1", [("TEA", quantity)], who=who)
    offer_id = session.scalars(select(Offer.id)).one()
    accept_offer(
        session, offer_id, OfferChoice.WAIT, via=channel.value, now=NOW, policy=DEFAULT_POLICY
    )
    [body] = _bodies(session, "wait_confirmed", channel)
    assert f"{off} off" in body
