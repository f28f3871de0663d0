"""Every customer message, logged, handled once, and answered: the core behind both webhooks.

The Twilio webhook and the Telegram handlers turn a provider's payload into a :class:`Received`
and call :meth:`Inbound.handle`, which is one short transaction: the conversation handles the
message (an accepted offer, an opt-out, a link...), and the transaction ends by writing the
message to ``inbound_messages`` as handled, with the provider's id. That write is the claim:
``INSERT ... ON CONFLICT DO NOTHING`` on the unique ``(channel, provider_id)``, or, when the row
is already there unhandled (Telegram's webhook logs an update before acknowledging it; an
earlier attempt failed), ``UPDATE ... WHERE handled_at IS NULL``. When neither writes a row,
another delivery of the same message got there first: the whole transaction is rolled back,
handling included, and the caller answers nothing. Two deliveries at once: on PostgreSQL the
second's insert waits on the unique index for the first transaction, then conflicts; on SQLite
writers take turns (``BEGIN IMMEDIATE``). Either way exactly one handling commits.

When handling fails the message is still logged, unhandled, in a transaction of its own: the
provider's next retry of the same message handles it, and Telegram updates (acknowledged before
they are handled) are replayed from the stored payload while the bot runs, until they are too
old to act on (``bot.telegram.retry``).

Misses (order numbers, offers or link tokens that are not the sender's) are counted from the same
table: past ``miss_limit`` within ``miss_window`` the sender's look-ups are refused for a while.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.agents import handoff
from bot.conversation import Conversation, Incoming, Reply, Sender, rows
from bot.conversation.core import MISSES, is_common
from bot.conversation.inbound_log import (
    MISSES_COUNT,
    AlreadyHandled,
    claim,
    insert_ignoring_duplicates,
    insert_returning_id,
    same_message,
    storable,
)
from bot.settings import Settings
from bot.wiring import shop_voice
from messaging.notifier import OrderLinks
from store.customers import find_by_phone, normalize_phone
from store.db import Database
from store.errors import InvalidInput
from store.inbound_give_ups import GivenUp, give_up_older_than
from store.models import Channel, Customer, InboundMessage, utcnow
from store.policy import Policy
from store.tables_inbox import InboxKind

__all__ = ["Handled", "Inbound", "Received"]

logger = logging.getLogger(__name__)

# Twilio caps an SMS body at 1,600 characters and Telegram a message at 4,096: anything longer is
# not a customer's question, and the parser need not read it.
MAX_TEXT = 4096
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
        order_links: OrderLinks | None = None,
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
        self._order_links = order_links
        self._clock = clock
        self._miss_limit = miss_limit
        self._miss_window = miss_window

    def record(self, received: Received) -> bool:
        """Log the message (its own committed transaction); True if it was not seen before."""
        now = self._clock()
        return self._db.transaction(lambda s: insert_ignoring_duplicates(s, received, now))

    def handle(self, received: Received) -> Handled:
        """Handle the message unless another delivery of it already did; log it either way."""
        now = self._clock()

        def converse(session: Session) -> Reply:
            # Run again whole if a deadlock rolled it back: the customer's choice is not lost.
            reply, customer_id, for_person = self._converse(session, received, now)
            outcome = {
                "handled_at": now,
                "customer_id": customer_id,
                "intent": reply.intent.kind.value,
                "actions": ",".join(reply.actions)[:128] or None,
                "reply_message": reply.message,
                "missed": any(action in MISSES for action in reply.actions),
            }
            if not claim(session, received, now, outcome):
                raise AlreadyHandled
            if for_person is not None:  # committed with the message, or not at all
                inbound_id = session.scalar(
                    select(InboundMessage.id).where(*same_message(received))
                )
                assert inbound_id is not None  # just written by the claim
                handoff.file_received(
                    session, received.channel, received.sender, inbound_id, for_person, now
                )
            return reply

        try:
            reply = self._db.transaction(converse)
        except AlreadyHandled:
            return Handled(duplicate=True)
        except Exception:
            # Nothing of the handling was kept; the message itself must not be lost.
            with contextlib.suppress(SQLAlchemyError):
                self.record(received)
            raise
        return Handled(duplicate=False, reply=reply, actions=tuple(reply.actions))

    def record_unsupported(self, received: Received, intent: str) -> bool:
        """Log a message from a channel not served yet as handled, acting on nothing at all.

        No customer is looked up and no conversation runs (a WhatsApp STOP must not opt the
        SMS number out), but the message is filed in the agents' inbox in the same transaction:
        the bot cannot answer there, so a person must see that someone wrote. True the first
        time; False for a provider's retry of the message.
        """
        now = self._clock()
        with self._db.session() as session:
            outcome = {"handled_at": now, "intent": intent}
            inbound_id = insert_returning_id(session, received, now, outcome)
            if inbound_id is None:
                return False
            unserved = handoff.ForPerson(InboxKind.NOT_UNDERSTOOD, None)
            handoff.file_received(
                session, received.channel, received.sender, inbound_id, unserved, now
            )
            return True

    def unhandled_telegram_updates(
        self, older_than: dt.timedelta, newer_than: dt.timedelta | None = None
    ) -> list[dict[str, Any]]:
        """Stored updates acknowledged but never handled (a crash in between, a failed
        attempt), oldest first; received at least ``older_than`` ago and, if given, less than
        ``newer_than`` ago."""
        now = self._clock()
        conditions = [
            InboundMessage.handled_at.is_(None),
            InboundMessage.channel == Channel.TELEGRAM,
            InboundMessage.received_at < now - older_than,
            InboundMessage.payload.is_not(None),
        ]
        if newer_than is not None:
            conditions.append(InboundMessage.received_at >= now - newer_than)
        with self._db.read_session() as session:
            payloads = session.scalars(
                select(InboundMessage.payload).where(*conditions).order_by(InboundMessage.id)
            )
            return [payload for payload in payloads if payload is not None]

    def give_up_telegram_updates(self, older_than: dt.timedelta) -> list[GivenUp]:
        """Mark unhandled updates received over ``older_than`` ago as given up; those marked."""
        now = self._clock()
        with self._db.session() as session:
            given = give_up_older_than(session, Channel.TELEGRAM, now - older_than, now=now)
            handoff.file_given_up(session, given, now)
            return given

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
            order_links=self._order_links,
        )

    def _converse(
        self, session: Session, received: Received, now: dt.datetime
    ) -> tuple[Reply, int | None, handoff.ForPerson | None]:
        chat_id = _int_or_none(received.sender) if received.channel is Channel.TELEGRAM else None
        lean = self._converse_common(session, received, now, chat_id)
        if lean is not None:
            return lean
        # Held here while the conversation runs, so its own look-up of the customer is answered
        # from the session's identity map instead of a second query.
        customer = self._customer(session, received, chat_id)
        sender = Sender(
            customer_id=customer.id if customer is not None else None,
            chat_is_private=received.chat_is_private,
            chat_id=chat_id,
            user_id=received.user_id,
            guessing_check=lambda: self._misses(session, received, now) >= self._miss_limit,
        )
        incoming = received.incoming
        if len(incoming.text) > MAX_TEXT:
            incoming = replace(incoming, text=incoming.text[:MAX_TEXT])
        private = received.channel is Channel.SMS or received.chat_is_private
        held = handoff.before_bot(
            received.channel,
            incoming,
            customer,
            private=private,
            shop_name=self._shop_name,
            default_locale=self._default_locale,
        )
        kind: InboxKind | None
        if held is not None:
            reply, kind = held
        else:
            reply = self._conversation(session, now).handle(received.channel, sender, incoming)
            kind = handoff.inbox_kind(reply, private=private)
        if kind is None:
            return reply, sender.customer_id, None
        # A /start link may have made the chat a customer's just now.
        customer = customer or self._customer(session, received, chat_id)
        return reply, sender.customer_id, handoff.ForPerson(kind, customer)

    def _converse_common(
        self, session: Session, received: Received, now: dt.datetime, chat_id: int | None
    ) -> tuple[Reply, int | None, handoff.ForPerson | None] | None:
        """The lean path for what most customers send (a status question, help): the customer
        and their orders as Core rows, not ORM objects (``bot.conversation.rows``). None when
        the message is anything else, or needs what only the full path does (an unknown
        sender, a hand-off, a person asked for, a longer text): nothing was written then."""
        incoming = received.incoming
        if not _common_candidate(incoming):
            return None
        customer = self._customer_row(session, received, chat_id)
        if customer is None or customer.handed_off_at is not None:
            return None
        # Asking for a person in the same words ("where is my order? agent!") is the full path's.
        held = handoff.before_bot(
            received.channel,
            incoming,
            cast(Customer, customer),  # reads locale and handed_off_at, both in the row
            private=True,
            shop_name=self._shop_name,
            default_locale=self._default_locale,
        )
        if held is not None:
            return None
        sender = Sender(
            customer_id=customer.id,
            chat_is_private=received.chat_is_private,
            chat_id=chat_id,
            user_id=received.user_id,
            guessing_check=lambda: self._misses(session, received, now) >= self._miss_limit,
        )
        conversation = self._conversation(session, now)
        reply = conversation.handle_common(received.channel, sender, incoming, customer)
        if reply is None:
            return None
        kind = handoff.inbox_kind(reply, private=True)
        if kind is None:
            return reply, customer.id, None
        # A refused guesser is filed for a person, with the customer as the full path has it.
        full = self._customer(session, received, chat_id)
        return reply, customer.id, handoff.ForPerson(kind, full)

    def _customer_row(
        self, session: Session, received: Received, chat_id: int | None
    ) -> rows.CustomerRow | None:
        if received.channel is Channel.SMS:
            phone = _sender_phone(received.sender, self._phone_region)
            return rows.customer_by_phone(session.connection(), phone) if phone else None
        if chat_id is None or not received.chat_is_private:
            return None
        return rows.customer_by_chat(session.connection(), chat_id)

    def _customer(
        self, session: Session, received: Received, chat_id: int | None
    ) -> Customer | None:
        if received.channel is Channel.SMS:
            phone = _sender_phone(received.sender, self._phone_region)
            if phone is None:
                return None  # a short code or an alphanumeric sender: no customer of ours
            return find_by_phone(session, phone)
        if chat_id is None or not received.chat_is_private:
            return None
        return session.scalars(select(Customer).where(Customer.telegram_chat_id == chat_id)).first()

    def _misses(self, session: Session, received: Received, now: dt.datetime) -> int:
        params = {
            "channel": received.channel,
            "sender": storable(received.sender[:64]),
            "since": now - self._miss_window,
        }
        return session.connection().execute(MISSES_COUNT, params).scalar() or 0


def _common_candidate(incoming: Incoming) -> bool:
    """Plain text that may be a status question or help: worth trying the lean path for."""
    return (
        incoming.button_data is None
        and incoming.contact is None
        and incoming.attachment is None
        and not incoming.provider_answered
        and 0 < len(incoming.text) <= MAX_TEXT
        and is_common(incoming)
    )


@functools.lru_cache(maxsize=16384)
def _sender_phone(sender: str, region: str | None) -> str | None:
    """The sender in E.164, or None. Cached: parsing and validating a number with
    ``phonenumbers`` cost 0.17 ms, a twentieth of an inbound SMS, and customers text again."""
    try:
        return normalize_phone(sender, region)
    except InvalidInput:
        return None


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
        order_links=shop_voice(settings).order_links,
    )
