"""Orders for the order page's tests, committed for real, and the link taken from their message.

The page runs on real time (``utcnow``), so these orders are placed now, not at the factories'
fixed ``NOW``: their offers are still open when the page is asked.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.settings import Settings
from messaging.notifier import OrderLinks, ShopVoice, notify_pending
from store.db import Database
from store.models import Customer, OutboxMessage, Product, utcnow
from tests import factories as f

LINK = re.compile(r"https?://\S+/o/[A-Za-z0-9_-]{22}")
ETA = dt.date(2027, 1, 15)


@dataclass(frozen=True, slots=True)
class Linked:
    """A committed order, its customer, and the page link from the message about it."""

    order_id: int
    number: str
    customer_id: int
    url: str

    @property
    def token(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def path(self) -> str:
        return "/o/" + self.token


def voice(settings: Settings) -> ShopVoice:
    """The notifier's voice as ``serve`` builds it (``bot.wiring.dispatch_config``)."""
    links = OrderLinks.from_secret(settings.order_page_base_url, settings.order_link_secret_bytes())
    return ShopVoice(settings.shop_name, settings.support_contact, links)


def backordered_with_alternative(
    db: Database,
    settings: Settings,
    *,
    number: str = "W1001",
    name: str = "Ada Lovelace",
    locale: str = "en",
    sku: str = "MUG",
) -> Linked:
    """A mug on backorder (a cup in stock as its alternative), told by SMS with the link."""
    now = utcnow()
    with db.session() as session:
        _catalog(session, sku)
        who = f.customer(session, name=name)
        who.email = "ada@example.com"
        who.locale = locale
        order = f.order(session, number, [(sku, 1)], who=who, placed_at=now - dt.timedelta(hours=1))
        notify_pending(session, voice(settings), now)
        return Linked(order.id, number, who.id, link_in_last_message(session, who))


def link_in_last_message(session: Session, customer: Customer) -> str:
    body = session.scalars(
        select(OutboxMessage.body)
        .where(OutboxMessage.customer_id == customer.id)
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert body is not None, "no message was queued"
    found = LINK.search(body)
    assert found is not None, f"no order page link in {body!r}"
    return found.group()


def _catalog(session: Session, sku: str) -> None:
    cup = f"{sku}-CUP"
    if session.scalar(select(Product.id).where(Product.sku == cup)) is None:
        f.product(session, cup, stock=50, price_cents=12_500)
        f.product(session, sku, stock=0, price_cents=10_000, eta=ETA, alternatives=(cup,))
