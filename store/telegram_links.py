"""Tying a Telegram chat to a customer: one-time ``/start`` tokens and shared contacts.

A Telegram chat sees no order until it is linked to a customer, in one of two ways:

- the shop gives the customer a deep link ``https://t.me/<bot>?start=<token>`` (in the order
  confirmation, say); the token is single-use, expires, and is stored only as its SHA-256, so
  a copy of the database hands out no live links. 32 bytes from ``secrets`` (256 bits) make
  guessing hopeless, and the webhooks rate limit failed attempts anyway;
- the customer shares their own contact (Telegram's "share my phone number" button); the
  caller must check that ``contact.user_id`` is the sender's own id, as anyone can share anyone's
  contact card.

One chat belongs to at most one customer: linking a chat moves it off whoever had it before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.models import Customer, ReachState, TelegramLinkToken

__all__ = ["DEFAULT_TTL", "issue_link_token", "link_chat", "redeem_link_token"]

DEFAULT_TTL = dt.timedelta(days=30)
_TOKEN_BYTES = 32  # token_urlsafe(32) is 43 characters; Telegram allows 64 of [A-Za-z0-9_-]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link_token(
    session: Session, customer_id: int, now: dt.datetime, ttl: dt.timedelta = DEFAULT_TTL
) -> str:
    """A new link token for the customer; only its hash is stored. Earlier tokens stay valid."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    session.add(
        TelegramLinkToken(
            customer_id=customer_id,
            token_hash=_digest(token),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    return token


def redeem_link_token(
    session: Session, token: str, chat_id: int, user_id: int | None, now: dt.datetime
) -> Customer | None:
    """Link the chat to the token's customer and use the token up; None when it is no good.

    Pressing the same link again from the chat it already linked is not an error: the token
    is used, but the chat is that customer's, and the answer is the same.
    """
    row = session.scalars(
        select(TelegramLinkToken).where(TelegramLinkToken.token_hash == _digest(token))
    ).first()
    if row is None:
        return None
    customer = session.get(Customer, row.customer_id)
    if customer is None:
        return None
    if row.used_at is not None:
        return customer if customer.telegram_chat_id == chat_id else None
    if row.expires_at <= now:
        return None
    # Conditional, so two chats racing for one token cannot both win it.
    won = session.execute(
        update(TelegramLinkToken)
        .where(TelegramLinkToken.id == row.id, TelegramLinkToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if won != 1:
        return None
    link_chat(session, customer, chat_id, user_id, now)
    return customer


def link_chat(
    session: Session, customer: Customer, chat_id: int, user_id: int | None, now: dt.datetime
) -> None:
    """Make ``chat_id`` the customer's Telegram chat, and theirs only; messages are on again."""
    if customer.telegram_chat_id != chat_id:
        session.execute(
            update(Customer)
            .where(Customer.telegram_chat_id == chat_id, Customer.id != customer.id)
            .values(telegram_chat_id=None, telegram_user_id=None)
            .execution_options(synchronize_session="fetch")
        )
        # The other customer's row must drop the chat id before this one takes it (unique).
        session.flush()
        customer.telegram_chat_id = chat_id
    if user_id is not None:
        customer.telegram_user_id = user_id
    # Linking is the customer asking to hear from us here: it counts as consent.
    if customer.telegram_state != ReachState.ACTIVE:
        customer.telegram_state = ReachState.ACTIVE
        customer.telegram_state_changed_at = now
    customer.telegram_consent_at = now
    session.flush()
