"""The ``shipped`` message: what went, the carrier, the tracking number and link, in en and es."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.notifier import OrderLinks, ShopVoice, notify_pending
from messaging.render import render_message
from messaging.types import ChannelKind
from store.models import Channel, OutboxMessage
from store.shipments import ship
from tests import factories as f
from tests.factories import NOW

URL = "https://track.example.com/?n=1Z999&lang=x"
ORDER_URL = "https://shop.example.com/o/abc"


def _context(**shipment: Any) -> dict[str, Any]:
    parcel = {
        "carrier": "UPS",
        "tracking": "1Z999",
        "tracking_url": URL,
        "items": [{"sku": "MUG", "name": "Mug <XL>", "quantity": 2}],
        "order_completed": False,
        **shipment,
    }
    return {
        "shop_name": "Casa",
        "support_contact": "help@example.com",
        "customer": {"name": "Ana"},
        "order": {"number": "A1"},
        "line": {"product_name": "Mug", "sku": "MUG", "quantity": 2, "backordered_quantity": 0},
        "shipment": parcel,
        "order_url": ORDER_URL,
    }


@pytest.mark.parametrize(
    ("locale", "words"),
    [("en", "2 x Mug <XL> from order A1 has shipped with UPS"), ("es", "ya va en camino con UPS")],
)
def test_sms_names_the_carrier_tracking_number_and_both_links(locale: str, words: str) -> None:
    text = render_message("shipped", ChannelKind.SMS, locale, **_context()).text
    assert text.startswith("Casa: ")
    assert words in text
    assert "1Z999" in text
    assert URL in text  # not HTML-escaped in plain text
    assert text.endswith(ORDER_URL)


@pytest.mark.parametrize(
    ("locale", "words"), [("en", "Track your parcel"), ("es", "Sigue tu paquete")]
)
def test_telegram_links_the_tracking_page_and_escapes_names(locale: str, words: str) -> None:
    text = render_message("shipped", ChannelKind.TELEGRAM, locale, **_context()).text
    assert f'<a href="{URL.replace("&", "&amp;")}">{words}</a>' in text
    assert "<code>1Z999</code>" in text
    assert "Mug &lt;XL&gt;" in text
    assert f'<a href="{ORDER_URL}">' in text


@pytest.mark.parametrize("channel", [ChannelKind.SMS, ChannelKind.TELEGRAM])
@pytest.mark.parametrize("locale", ["en", "es"])
def test_without_tracking_details_nothing_about_them_is_said(
    channel: ChannelKind, locale: str
) -> None:
    context = _context(carrier=None, tracking=None, tracking_url=None, order_completed=True)
    text = render_message("shipped", channel, locale, **context).text
    assert "UPS" not in text
    assert "1Z999" not in text
    assert "track" not in text.lower().replace("track.example", "")
    assert "A1" in text


def test_shipping_queues_a_shipped_message_with_the_tracking_link(session: Session) -> None:
    f.product(session, "MUG", stock=2)
    who = f.customer(session)
    who.locale = "es"
    f.order(session, "A1", [("MUG", 2)], who=who)
    ship(session, "A1", carrier="SEUR", tracking="S123", tracking_url=URL, now=NOW)
    voice = ShopVoice("Casa", "help", OrderLinks.from_secret("https://shop.example.com", b"k"))
    notify_pending(session, voice, NOW)
    (row,) = session.scalars(select(OutboxMessage).where(OutboxMessage.message == "shipped")).all()
    assert row.channel == Channel.SMS
    assert row.body.startswith("Casa: tu pedido A1 ya va en camino con SEUR.")
    assert "S123" in row.body
    assert URL in row.body
    assert "https://shop.example.com/o/" in row.body
