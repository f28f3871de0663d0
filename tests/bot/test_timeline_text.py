"""Timeline texts as agents read them: Telegram HTML as plain text, link keys masked."""

from __future__ import annotations

import datetime as dt

from bot.agents.timeline_text import entry_text
from store.customer_timeline import Entry

AT = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
TOKEN = "grx22CvBirRZUMyZ1FJP3A"


def entry(kind: str, channel: str, text: str) -> Entry:
    return Entry(at=AT, kind=kind, id=1, channel=channel, text=text)


def test_telegram_html_we_sent_reads_as_plain_text_with_its_links() -> None:
    sent = entry(
        "outbound",
        "telegram",
        '<b>Casa Verde</b>\nTu pedido &amp; más: <a href="https://shop.example/help">ayuda</a>',
    )
    assert entry_text(sent) == "Casa Verde\nTu pedido & más: ayuda (https://shop.example/help)"


def test_what_a_customer_wrote_is_shown_as_written() -> None:
    assert entry_text(entry("inbound", "telegram", "<b>hi</b> &amp;")) == "<b>hi</b> &amp;"


def test_an_order_page_token_is_masked_on_every_channel() -> None:
    for kind, channel in (("outbound", "sms"), ("outbound", "telegram"), ("inbound", "sms")):
        text = entry_text(entry(kind, channel, f"See https://shop.example/o/{TOKEN} now"))
        assert text == "See https://shop.example/o/… now"


def test_a_telegram_start_token_is_masked() -> None:
    assert entry_text(entry("inbound", "telegram", "/start C1JmYEGnQcqPFzM6")) == "/start …"
    assert entry_text(entry("inbound", "telegram", "/start@shopbot abc123")) == "/start@shopbot …"
    assert entry_text(entry("inbound", "telegram", "/status")) == "/status"
