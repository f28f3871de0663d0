"""The agents' inbox: conversations that need a person, and the messages gathered in each.

One open item per customer (or, for a sender we do not know, per channel and address) gathers
every message that needs a person until an agent closes it; a failed or unknown delivery is an
item of its own, one per outbox row. See ``store.inbox`` for the rules.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ColumnElement, ForeignKey, Index, String, and_, text
from sqlalchemy.orm import Mapped, mapped_column

from store.models import BIG_ID, Base, Channel, _enum, utcnow

__all__ = [
    "OPEN_CUSTOMER_INDEX",
    "OPEN_SENDER_INDEX",
    "AgentReply",
    "InboxItem",
    "InboxKind",
    "InboxMessage",
    "open_conversation",
]


class InboxKind(StrEnum):
    """Why a person is needed, most pressing first (an item shows its most pressing reason)."""

    HUMAN_REQUESTED = "human_requested"  # "agent", "hablar con una persona": the bot hands off
    HANDED_OFF = "handed_off"  # a text from a customer waiting for a person
    NOT_UNDERSTOOD = "not_understood"
    DELIVERY_FAILED = "delivery_failed"  # failed or undelivered: a dead letter
    DELIVERY_UNKNOWN = "delivery_unknown"  # a worker died with the request in flight
    GIVEN_UP = "given_up"  # handling kept failing until the message was too old to act on
    LINK_FAILED = "link_failed"
    RATE_LIMITED = "rate_limited"  # a sender past the allowance of misses (guessing)
    OPTED_OUT = "opted_out"


def open_conversation(known: bool) -> ColumnElement[bool]:
    """The rows of open conversations (not delivery items) of known, or unknown, senders."""
    who = "customer_id IS NOT NULL" if known else "customer_id IS NULL"
    return and_(text("closed_at IS NULL"), text("outbox_id IS NULL"), text(who))


def _one_open(name: str, known: bool, *columns: str) -> Index:
    # A partial unique index: two processes filing a customer's first messages at once cannot
    # both open an item (the loser's INSERT ... ON CONFLICT DO NOTHING finds the winner's).
    where = open_conversation(known)
    return Index(name, *columns, unique=True, sqlite_where=where, postgresql_where=where)


OPEN_CUSTOMER_INDEX = "uq_inbox_items_open_customer"
OPEN_SENDER_INDEX = "uq_inbox_items_open_sender"


class InboxItem(Base):
    __tablename__ = "inbox_items"
    __table_args__ = (
        Index("ix_inbox_items_open", "closed_at", "kind"),
        Index("ix_inbox_items_customer", "customer_id", "closed_at"),
        Index("ix_inbox_items_sender", "channel", "sender", "closed_at"),
        _one_open(OPEN_CUSTOMER_INDEX, True, "customer_id"),
        _one_open(OPEN_SENDER_INDEX, False, "channel", "sender"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    kind: Mapped[InboxKind] = mapped_column(_enum(InboxKind, "kind"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    sender: Mapped[str] = mapped_column(String(64))  # the address, as logged inbound
    # A delivery item's outbox row: unique, so a failure becomes one item however often seen.
    outbox_id: Mapped[int | None] = mapped_column(
        BIG_ID, ForeignKey("outbox_messages.id"), unique=True
    )
    detail: Mapped[str | None] = mapped_column(String(300))  # a delivery's error, say
    message_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    assigned_to: Mapped[str | None] = mapped_column(String(64))  # an agent's username
    assigned_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(64))


class InboxMessage(Base):
    """One inbound message in an item, and why it needed a person. A message is in one item."""

    __tablename__ = "inbox_messages"

    inbound_id: Mapped[int] = mapped_column(
        BIG_ID, ForeignKey("inbound_messages.id"), primary_key=True, autoincrement=False
    )
    item_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("inbox_items.id"), index=True)
    kind: Mapped[InboxKind] = mapped_column(_enum(InboxKind, "kind"))


class AgentReply(Base):
    """Who wrote an outbox message by hand (the timeline shows the agent's username)."""

    __tablename__ = "agent_replies"

    outbox_id: Mapped[int] = mapped_column(
        BIG_ID, ForeignKey("outbox_messages.id"), primary_key=True, autoincrement=False
    )
    agent: Mapped[str] = mapped_column(String(64))
    inbox_item_id: Mapped[int | None] = mapped_column(BIG_ID, ForeignKey("inbox_items.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
