"""An agent sends a customer their order page's link again (the customer lost the message, or
the link was just revoked and they need the new one).

The link is the order's live one (``store.order_links.tokens_for_orders`` issues a new one if
it was revoked); the message goes through the outbox like any other, to the channel that
reaches the customer now, so rate limits, opt-outs (checked again at send time) and delivery
reports apply. It is not marked urgent: quiet hours hold it, as they hold other news.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.agents.acting import Done, audited
from messaging.notifier import ShopVoice, reachable_channel
from messaging.outbox import QueuedMessage, enqueue
from messaging.render import render_message
from store.errors import InvalidInput, NotFound
from store.models import Order
from store.order_links import tokens_for_orders

MESSAGE = "order_link_resent"


def resend_link(
    session: Session,
    customer_id: int,
    order_number: str,
    *,
    agent: str,
    now: dt.datetime,
    voice: ShopVoice,
) -> Done:
    order = session.scalars(
        select(Order).where(Order.number == order_number, Order.customer_id == customer_id)
    ).first()
    if order is None:
        raise NotFound(f"customer {customer_id} has no order {order_number}")
    links = voice.order_links
    if links is None:
        raise InvalidInput("order page links are off: set PUBLIC_BASE_URL to send them")
    customer = order.customer
    reach = reachable_channel(customer)
    if reach is None:
        raise InvalidInput("no channel reaches this customer now (opted out or unreachable)")
    channel, address = reach
    token = tokens_for_orders(session, [order.id], links.token_key, now)[order.id]
    rendered = render_message(
        MESSAGE,
        channel.value,
        customer.locale,
        shop_name=voice.shop_name,
        support_contact=voice.support_contact,
        order_number=order.number,
        order_url=links.url(token),
    )
    # A fresh key each time: the agent asked for one more message, on purpose.
    key = f"agent-link:{order.id}:{secrets.token_hex(8)}"
    message = QueuedMessage(
        key, customer.id, channel, address, MESSAGE, customer.locale, rendered.text
    )
    enqueue(session, [message], now)
    detail: dict[str, object] = {"order_number": order.number, "channel": channel.value}
    return audited(session, agent, customer_id, "customer.link_resent", "done", detail, now)
