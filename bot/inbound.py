"""Every customer message, logged, handled once, and answered: the core behind both webhooks.

The Twilio webhook and the Telegram handlers turn a provider's payload into a :class:`Received`
and call :meth:`Inbound.handle`. It runs two short transactions:

1. **log**: the message is written to ``inbound_messages`` with the provider's id before anything
   else happens (``INSERT ... ON CONFLICT DO NOTHING``: a provider's retry adds nothing);
2. **handle**: the row is claimed by a conditional ``UPDATE ... WHERE handled_at IS NULL``; only
   the one caller whose update hit handles the message, in the same transaction as what handling
   changes (an accepted offer, an opt-out, a link). Two deliveries of one message at once: on
   PostgreSQL the second update waits for the first transaction and then finds the row handled;
   on SQLite writers take turns (``BEGIN IMMEDIATE``). Either way exactly one reply.

A crash between the two leaves a logged, unhandled row: the provider's next retry of the same
message handles it, and Telegram updates (which are acknowledged before they are handled) are
replayed from the stored payload when the bot starts (``unhandled_telegram_updates``).

Misses (order numbers, offers or link tokens that are not the sender's) are counted from the same
table: past ``miss_limit`` within ``miss_window`` the sender's look-ups are refused for a while.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.conversation import Conversation, Incoming, Reply, Sender
from bot.conversation.core import MISSES
from bot.settings import Settings
from store.customers import find_by_phone, normalize_phone
from store.db import Database
from store.errors import InvalidInput
from store.models import Channel, Customer, InboundMessage, utcnow
from store.policy import Policy

__all__ = ["Handled", "Inbound", "Received"]

logger = logging.getLogger(__name__)

# Twilio caps an SMS body at 1,600 characters and Telegram a message at 4,096: anything longer is
# not a customer's question, and the parser need not read it.
MAX_TEXT = 4096
MAX_LOGGED_BODY = 2000
MISS_LIMIT = 5
MISS_WINDOW = dt.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Received:
    """One inbound message, as the webhook read it.

    ``sender`` is the address replies go to: the sender's phone number as Twilio gave it, or the
    Telegram chat id. ``user_id`` is the Telegram user who wrote (for linking by contact).
    """

    channel: Channel
    provider_id: str
    sender: str
    incoming: Incoming
    chat_is_private: bool = True
    user_id: int | None = None
    payload: dict[str, Any] | None = None  # the raw Telegram update, for replay


@dataclass(frozen=True, slots=True)
class Handled:
    """What became of a message. ``reply`` is None for a duplicate."""

    duplicate: bool
    reply: Reply | None = None
    actions: tuple[str, ...] = field(default=())

    @property
    def text_to_send(self) -> str | None:
        """The text to answer with now: none for duplicates, silences, and news the outbox
        will deliver anyway (``also_queued``), or the customer hears it twice."""
        if self.reply is None or self.reply.also_queued:
            return None
        return self.reply.text


class Inbound:
    """Logs and handles customer messages against one database."""

    def __init__(
        self,
        db: Database,
        *,
        shop_name: str,
        support_contact: str,
        policy: Policy,
        default_locale: str = "en",
        phone_region: str | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        miss_limit: int = MISS_LIMIT,
        miss_window: dt.timedelta = MISS_WINDOW,
    ) -> None:
        self._db = db
        self._shop_name = shop_name
        self._support_contact = support_contact
        self._policy = policy
        self._default_locale = default_locale
        self._phone_region = phone_region
        self._clock = clock
        self._miss_limit = miss_limit
        self._miss_window = miss_window

    def record(self, received: Received) -> bool:
        """Log the message (its own committed transaction); True if it was not seen before."""
        now = self._clock()
        with self._db.session() as session:
            return _insert_ignoring_duplicates(session, received, now)

    def handle(self, received: Received) -> Handled:
        """Log, then handle the message unless another delivery of it already did."""
        self.record(received)
        now = self._clock()
        with self._db.session() as session:
            claimed = session.execute(
                update(InboundMessage)
                .where(*_same_message(received), InboundMessage.handled_at.is_(None))
                .values(handled_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if claimed != 1:
                return Handled(duplicate=True)
            sender = self._sender(session, received, now)
            incoming = received.incoming
            if len(incoming.text) > MAX_TEXT:
                incoming = replace(incoming, text=incoming.text[:MAX_TEXT])
            reply = self._conversation(session, now).handle(received.channel, sender, incoming)
            session.execute(
                update(InboundMessage)
                .where(*_same_message(received))
                .values(
                    customer_id=sender.customer_id,
                    intent=reply.intent.kind.value,
                    actions=",".join(reply.actions)[:128] or None,
                    reply_message=reply.message,
                    missed=any(action in MISSES for action in reply.actions),
                )
                .execution_options(synchronize_session=False)
            )
        return Handled(duplicate=False, reply=reply, actions=tuple(reply.actions))

    def unhandled_telegram_updates(self, older_than: dt.timedelta) -> list[dict[str, Any]]:
        """Stored updates acknowledged but never handled (a crash in between), oldest first."""
        cutoff = self._clock() - older_than
        with self._db.read_session() as session:
            payloads = session.scalars(
                select(InboundMessage.payload)
                .where(
                    InboundMessage.handled_at.is_(None),
                    InboundMessage.channel == Channel.TELEGRAM,
                    InboundMessage.received_at < cutoff,
                    InboundMessage.payload.is_not(None),
                )
                .order_by(InboundMessage.id)
            )
            return [payload for payload in payloads if payload is not None]

    # --- internals ----------------------------------------------------------------------------

    def _conversation(self, session: Session, now: dt.datetime) -> Conversation:
        return Conversation(
            session,
            shop_name=self._shop_name,
            support_contact=self._support_contact,
            policy=self._policy,
            now=now,
            default_locale=self._default_locale,
            phone_region=self._phone_region,
        )

    def _sender(self, session: Session, received: Received, now: dt.datetime) -> Sender:
        chat_id = _int_or_none(received.sender) if received.channel is Channel.TELEGRAM else None
        return Sender(
            customer_id=self._customer_id(session, received, chat_id),
            chat_is_private=received.chat_is_private,
            chat_id=chat_id,
            user_id=received.user_id,
            guessing_blocked=self._misses(session, received, now) >= self._miss_limit,
        )

    def _customer_id(self, session: Session, received: Received, chat_id: int | None) -> int | None:
        if received.channel is Channel.SMS:
            try:
                phone = normalize_phone(received.sender, self._phone_region)
            except InvalidInput:
                return None  # a short code or an alphanumeric sender: no customer of ours
            customer = find_by_phone(session, phone)
            return customer.id if customer is not None else None
        if chat_id is None or not received.chat_is_private:
            return None
        return session.scalars(
            select(Customer.id).where(Customer.telegram_chat_id == chat_id)
        ).first()

    def _misses(self, session: Session, received: Received, now: dt.datetime) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(InboundMessage)
                .where(
                    InboundMessage.channel == received.channel,
                    InboundMessage.sender == _storable(received.sender[:64]),
                    InboundMessage.received_at >= now - self._miss_window,
                    InboundMessage.missed.is_(True),
                )
            )
            or 0
        )


def _same_message(received: Received) -> tuple[Any, ...]:
    return (
        InboundMessage.channel == received.channel,
        InboundMessage.provider_id == _storable(received.provider_id[:64]),
    )


def _insert_ignoring_duplicates(session: Session, received: Received, now: dt.datetime) -> bool:
    values = {
        "channel": received.channel,
        "provider_id": _storable(received.provider_id[:64]),
        "sender": _storable(received.sender[:64]),
        "body": _logged_body(received.incoming),
        "payload": received.payload,
        "received_at": now,
        "missed": False,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(InboundMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["channel", "provider_id"])
        .returning(InboundMessage.id)
    )
    # RETURNING, not rowcount: an ORM-enabled INSERT does not report a reliable rowcount on
    # PostgreSQL (psycopg gave -1 here), and no row back means the conflict was hit.
    return session.execute(statement).scalar() is not None


def _logged_body(incoming: Incoming) -> str | None:
    if incoming.button_data is not None:
        return _storable(f"[button] {incoming.button_data}"[:MAX_LOGGED_BODY])
    if incoming.contact is not None:
        return "[contact]"  # a phone number; not kept in the log
    return _storable(incoming.text[:MAX_LOGGED_BODY]) or None


def _storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL (SQLite can): a body with one must still be logged."""
    return text.replace("\x00", "\ufffd")


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def from_settings(settings: Settings, db: Database) -> Inbound:
    """An :class:`Inbound` configured from :class:`bot.settings.Settings`."""
    return Inbound(
        db,
        shop_name=settings.shop_name,
        support_contact=settings.support_contact,
        policy=settings.policy(),
        default_locale=settings.default_locale,
        phone_region=settings.default_phone_region,
    )
