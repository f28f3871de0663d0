"""A timeline entry's text as an agent should read it.

- Telegram messages we sent are Telegram HTML (``<b>``, ``<a href>``): shown as the customer
  reads them, as plain text, a link as "its text (its address)". What customers wrote is shown
  exactly as written (a customer's "<b>" is text), and the page escapes it either way.
- Keys are masked: an order page's token (``/o/<token>``, it opens the order and its choices)
  and a Telegram ``/start <token>``. An agent needs to know a link was sent, not the key itself;
  a screenshot of the dashboard must not hand one out.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from store.customer_timeline import Entry
from store.order_links import PAGE_PATH

__all__ = ["MASK", "entry_text"]

MASK = "…"
_ORDER_TOKEN = re.compile(re.escape(PAGE_PATH) + r"[A-Za-z0-9_-]{8,}")
_START_TOKEN = re.compile(r"^(\s*/start(?:@\w+)?)\s+\S+", re.IGNORECASE)


def entry_text(entry: Entry) -> str | None:
    if entry.text is None:
        return None
    text = entry.text
    if entry.kind == "outbound" and entry.channel == "telegram":
        text = _telegram_plain(text)
    text = _ORDER_TOKEN.sub(PAGE_PATH + MASK, text)
    return _START_TOKEN.sub(r"\1 " + MASK, text)


class _PlainText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hrefs: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.hrefs:
            href = self.hrefs.pop()
            if href:
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _telegram_plain(html_text: str) -> str:
    parser = _PlainText()
    parser.feed(html_text)
    parser.close()
    return "".join(parser.parts)
