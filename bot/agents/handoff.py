"""Hand-off to a person, and which messages go to the agents' inbox: called by ``bot.inbound``.

Before the bot answers (:func:`before_bot`):

1. the carrier keywords (STOP, START, HELP and the rest, Twilio's ``OptOutType``), Telegram's
   ``/stop``, ``/start`` and ``/help``, buttons and shared contacts always reach the bot: a
   handed-off customer must still be able to opt out, and carriers require the answers;
2. a request for a person ("agent", "human", "hablar con una persona", ...) is answered "a
   person will answer", in the customer's language, and hands the customer off;
3. a handed-off customer's other texts get no bot answer: they are filed for a person.

After the bot answered (:func:`inbox_kind`): what it could not deal with is filed too.
Both are filed in the transaction that records the message (``store.inbox.file_message``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversation import Incoming, Reply
from bot.conversation.core import Action
from bot.conversation.intents import Intent, IntentKind, parse
from messaging.render import render_message
from store import inbox
from store.inbound_give_ups import GivenUp
from store.models import Channel, Customer
from store.tables_inbox import InboxKind

__all__ = [
    "ForPerson",
    "asks_for_person",
    "before_bot",
    "file_given_up",
    "file_received",
    "inbox_kind",
]

# What the bot always answers itself, hand-off or not.
_BOT_KINDS = frozenset({IntentKind.OPT_OUT, IntentKind.OPT_IN, IntentKind.HELP})
# Nouns that name a person to talk to. In a short message they are a request for one ("agent",
# "can I talk to a human?", "quiero hablar con una persona"); in a long one they may be a story.
_PERSON_WORDS = frozenset(
    {
        *("agent", "agents", "human", "humans", "person", "representative", "rep", "operator"),
        *("somebody", "someone", "staff", "manager", "supervisor"),
        *("agente", "agentes", "humano", "humana", "persona", "representante", "operador"),
        *("operadora", "alguien", "asesor", "asesora", "encargado"),
    }
)
# Alone these words mean nothing; "someone" needs a verb of talking ("talk to someone").
_WEAK = frozenset({"someone", "somebody", "alguien", "staff", "manager", "rep"})
_TALK_WORDS = frozenset(
    {
        *("talk", "speak", "chat", "call", "contact", "reach", "need", "want", "real", "live"),
        *("hablar", "habla", "hable", "llamar", "contactar", "quiero", "necesito", "real"),
    }
)
_SPANISH = frozenset(
    {
        *("agente", "agentes", "humano", "humana", "persona", "representante", "operador"),
        *("operadora", "alguien", "asesor", "asesora", "encargado", "hablar", "habla", "hable"),
        *("quiero", "necesito", "con", "una", "por", "favor", "llamar", "contactar"),
    }
)
_MAX_WORDS = 12
_MAX_CHARS = 300  # past a few words it is not a request anyway
_TELEGRAM_COMMANDS = frozenset({"/human", "/agent", "/agente", "/humano"})


def asks_for_person(text: str) -> tuple[bool, str | None]:
    """Whether ``text`` asks for a person, and its language when the words tell."""
    stripped = text[:_MAX_CHARS].strip()
    if stripped.split("@", 1)[0].lower() in _TELEGRAM_COMMANDS:
        return True, "es" if stripped.lower().startswith(("/agente", "/humano")) else "en"
    if stripped.startswith("/"):
        return False, None  # another command: "/start <token>" may spell "agent" by chance
    words = _words(stripped)
    if not words or len(words) > _MAX_WORDS:
        return False, None
    present = set(words)
    strong = present & (_PERSON_WORDS - _WEAK)
    weak = present & _WEAK
    if not strong and not (weak and present & _TALK_WORDS):
        return False, None
    return True, "es" if present & _SPANISH else "en"


def before_bot(
    channel: Channel,
    incoming: Incoming,
    customer: Customer | None,
    *,
    private: bool,
    shop_name: str,
    default_locale: str,
) -> tuple[Reply, InboxKind] | None:
    """The reply when a person, not the bot, is to answer; None to let the bot answer."""
    if not private or incoming.provider_answered or incoming.button_data is not None:
        return None
    if incoming.contact is not None or not incoming.text.strip():
        return None
    # No carrier keyword names a person, so a request for one needs no keyword check first; a
    # handed-off customer's text does (it costs a parse only for them).
    wants, language = asks_for_person(incoming.text)
    if wants:
        locale = customer.locale if customer is not None else language or default_locale
        rendered = render_message("handoff_started", channel, locale, shop_name=shop_name)
        reply = Reply(
            intent=Intent(IntentKind.HUMAN, language=language),
            message="handoff_started",
            text=rendered.text,
            actions=(Action.HANDOFF_REQUESTED,),
        )
        return reply, InboxKind.HUMAN_REQUESTED
    if customer is None or customer.handed_off_at is None:
        return None
    intent = parse(incoming.text)
    if intent.kind in _BOT_KINDS:
        return None
    # Said nothing: a person answers; the last thing the bot said is that one will.
    silent = Reply(intent=intent, message=None, text=None, actions=(Action.HANDED_OFF,))
    return silent, InboxKind.HANDED_OFF


def inbox_kind(reply: Reply, *, private: bool) -> InboxKind | None:
    """What the bot's answer says about needing a person; None when the bot dealt with it."""
    actions = set(reply.actions)
    if Action.RATE_LIMITED in actions:
        return InboxKind.RATE_LIMITED
    if Action.LINK_FAILED in actions:
        return InboxKind.LINK_FAILED
    if Action.OPTED_OUT in actions:
        return InboxKind.OPTED_OUT
    if reply.intent.kind is IntentKind.UNKNOWN and private and not actions:
        return InboxKind.NOT_UNDERSTOOD
    return None


def _words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return re.findall(r"[a-z]+", folded)


@dataclass(frozen=True, slots=True)
class ForPerson:
    """A message to file in the inbox, and whose it is."""

    kind: InboxKind
    customer: Customer | None


def file_received(
    session: Session,
    channel: Channel,
    sender: str,
    inbound_id: int,
    for_person: ForPerson,
    now: dt.datetime,
) -> None:
    """File the logged message ``inbound_id`` (same transaction as its "handled" mark)."""
    inbox.file_message(
        session,
        inbound_id=inbound_id,
        kind=for_person.kind,
        channel=channel,
        sender=sender,
        customer=for_person.customer,
        now=now,
    )


def file_given_up(session: Session, given: Sequence[GivenUp], now: dt.datetime) -> None:
    """File messages nobody could act on: a person answers them by hand."""
    for message in given:
        customer = None
        if message.channel is Channel.TELEGRAM and message.sender.lstrip("-").isdigit():
            customer = session.scalars(
                select(Customer).where(Customer.telegram_chat_id == int(message.sender))
            ).first()
        inbox.file_message(
            session,
            inbound_id=message.id,
            kind=InboxKind.GIVEN_UP,
            channel=message.channel,
            sender=message.sender,
            customer=customer,
            now=now,
        )
