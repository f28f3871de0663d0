"""Replies by hand: an agent's own words to one customer, through the outbox like any message.

The outbox delivers it, so the channel's rate limits, delivery reports and the send-time consent
check (``messaging.send_gate``) all apply. Rules of our own:

- a channel the customer opted out of (or cannot be reached on) is refused before anything is
  queued, with the reason: the agent learns it now, not from a "not sent" later;
- without a channel, the reply goes where the customer last wrote from (in the answer window),
  else to their preferred reachable channel;
- an answer to a conversation the customer started (they wrote within :data:`ANSWER_WINDOW`) is
  not news: it is ``urgent`` and not held by quiet hours. Anything else waits for the morning;
- an SMS shows its segment count before it is sent (:func:`draft` is the preview);
- the outbox row, who wrote it (``agent_replies``) and the audit entry commit together; the same
  ``key`` (the form's nonce, the API's ``idempotency_key``) twice queues one message.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging import outbox
from messaging.render import render_message
from messaging.segments import count_segments
from store import audit
from store.errors import Conflict, InvalidInput, NotFound
from store.models import Channel, Customer, InboundMessage, OutboxMessage, ReachState
from store.tables_inbox import AgentReply, InboxItem

__all__ = ["ANSWER_WINDOW", "Draft", "Sent", "draft", "send"]

ANSWER_WINDOW = dt.timedelta(hours=24)
# Twilio refuses bodies over 1,600 characters; Telegram over 4,096. The shop's name comes first.
MAX_TEXT = {Channel.SMS: 1400, Channel.TELEGRAM: 3900}
MESSAGE = "agent_reply"


@dataclass(frozen=True, slots=True)
class Draft:
    """What would be sent: the body as the customer reads it, and what it costs on SMS."""

    customer_id: int
    channel: Channel
    address: str
    locale: str
    body: str
    text: str
    urgent: bool
    segments: int | None  # SMS only
    encoding: str | None


@dataclass(frozen=True, slots=True)
class Sent:
    outbox_id: int
    draft: Draft
    repeated: bool  # the same key was sent before: nothing new was queued


def draft(
    session: Session,
    customer_id: int,
    text: str,
    channel: Channel | None,
    *,
    shop_name: str,
    now: dt.datetime,
) -> Draft:
    """The reply as it would go out; :class:`NotFound`, :class:`InvalidInput` (empty, too long)
    or :class:`Conflict` (the channel does not reach the customer) otherwise."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    words = text.strip()
    if not words:
        raise InvalidInput("write something to send", field="text")
    last = _last_inbound(session, customer_id, now - ANSWER_WINDOW)
    chosen = channel or _answering_channel(customer, last)
    address = _address(customer, chosen)
    if len(words) > MAX_TEXT[chosen]:
        raise InvalidInput(
            f"too long for {chosen.value}: at most {MAX_TEXT[chosen]} characters", field="text"
        )
    body = render_message(MESSAGE, chosen, customer.locale, shop_name=shop_name, text=words).text
    info = count_segments(body) if chosen is Channel.SMS else None
    return Draft(
        customer_id=customer_id,
        channel=chosen,
        address=address,
        locale=customer.locale,
        body=body,
        text=words,
        urgent=last is not None,
        segments=info.segments if info is not None else None,
        encoding=info.encoding if info is not None else None,
    )


def send(
    session: Session,
    reply: Draft,
    *,
    agent: str,
    key: str | None,
    now: dt.datetime,
) -> Sent:
    """Queue ``reply`` (from :func:`draft`, in this transaction) as ``agent``'s message."""
    dedupe_key = f"agent-reply:{(key or uuid.uuid4().hex)[:64]}"
    existing = session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    )
    if existing is not None:
        return Sent(existing, reply, repeated=True)
    message = outbox.QueuedMessage(
        dedupe_key=dedupe_key,
        customer_id=reply.customer_id,
        channel=reply.channel,
        address=reply.address,
        message=MESSAGE,
        locale=reply.locale,
        body=reply.body,
        urgent=reply.urgent,
    )
    outbox.enqueue(session, [message], now)
    outbox_id = session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    )
    assert outbox_id is not None  # just queued, in this transaction
    item = _open_item(session, reply.customer_id)
    if item is not None and item.assigned_to is None:
        item.assigned_to, item.assigned_at = agent[:64], now  # who answers, owns it
    session.add(
        AgentReply(
            outbox_id=outbox_id,
            agent=agent[:64],
            inbox_item_id=item.id if item is not None else None,
            created_at=now,
        )
    )
    audit.record(
        session,
        agent,
        "customer.reply",
        subject=f"customer:{reply.customer_id}",
        now=now,
        outbox_id=outbox_id,
        channel=reply.channel.value,
        segments=reply.segments,
        urgent=reply.urgent,
        characters=len(reply.text),
    )
    return Sent(outbox_id, reply, repeated=False)


def _last_inbound(session: Session, customer_id: int, since: dt.datetime) -> Channel | None:
    """The channel of the customer's latest message since ``since``, if they wrote."""
    return session.scalar(
        select(InboundMessage.channel)
        .where(InboundMessage.customer_id == customer_id, InboundMessage.received_at >= since)
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        .limit(1)
    )


def _answering_channel(customer: Customer, last: Channel | None) -> Channel:
    candidates = [c for c in (last, customer.preferred_channel) if c is not None]
    candidates += [c for c in (Channel.SMS, Channel.TELEGRAM) if c not in candidates]
    for candidate in candidates:
        if _reach(customer, candidate) == "ok":
            return candidate
    return candidates[0]  # none reaches them: _address says why


def _reach(customer: Customer, channel: Channel) -> str:
    if channel is Channel.SMS:
        known, state = customer.phone is not None, customer.sms_state
    else:
        known, state = customer.telegram_chat_id is not None, customer.telegram_state
    if not known:
        return "no phone number on file" if channel is Channel.SMS else "no linked Telegram chat"
    if state != ReachState.ACTIVE:
        return {
            ReachState.OPTED_OUT: "the customer opted out",
            ReachState.UNREACHABLE: "the customer cannot be reached there",
            ReachState.INVALID: "the address is invalid",
        }[state]
    return "ok"


def _address(customer: Customer, channel: Channel) -> str:
    why = _reach(customer, channel)
    if why != "ok":
        raise Conflict(f"cannot reply on {channel.value}: {why}")
    if channel is Channel.SMS:
        assert customer.phone is not None
        return customer.phone
    return str(customer.telegram_chat_id)


def _open_item(session: Session, customer_id: int) -> InboxItem | None:
    return session.scalars(
        select(InboxItem)
        .where(
            InboxItem.customer_id == customer_id,
            InboxItem.closed_at.is_(None),
            InboxItem.outbox_id.is_(None),
        )
        .order_by(InboxItem.id)
        .limit(1)
    ).first()
