"""What goes into a conversation and what comes out: the sender, the message, the reply, and
the actions handling it took (``bot.conversation.core`` handles them; the webhooks build them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.conversation.intents import Intent
from messaging.types import Button


class Action(StrEnum):
    """What handling a message did or found, for the caller's logs and metrics."""

    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    OFFER_ACCEPTED = "offer_accepted"
    OFFER_REPEATED = "offer_repeated"  # the same choice again: nothing changed
    OFFER_REFUSED = "offer_refused"
    OFFER_EXPIRED = "offer_expired"  # the reply came too late; the default was applied now
    OFFER_AMBIGUOUS = "offer_ambiguous"
    NO_OPEN_OFFER = "no_open_offer"
    STATUS_SHOWN = "status_shown"
    ORDER_MISS = "order_miss"  # an order number that is not the sender's (or not there)
    UNKNOWN_SENDER = "unknown_sender"  # no customer behind it, or a group chat
    LINKED = "linked"  # a Telegram chat is now the customer's
    LINK_FAILED = "link_failed"  # a bad, used or expired token; someone else's contact
    RATE_LIMITED = "rate_limited"  # a look-up refused after too many misses
    HANDOFF_REQUESTED = "handoff_requested"  # asked for a person (bot.agents.handoff)
    HANDED_OFF = "handed_off"  # waiting for a person: filed for them, the bot said nothing


# What counts against a sender's allowance of misses (guessing order numbers, offers, tokens).
MISSES = frozenset({Action.ORDER_MISS, Action.NO_OPEN_OFFER, Action.LINK_FAILED})


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote, as the caller resolved it. ``chat_is_private`` is False for Telegram groups.

    On Telegram ``chat_id`` and ``user_id`` say which chat to link and whose contact a shared
    card must be. ``guessing_blocked``: this sender missed too often lately (see the module
    docstring).
    """

    customer_id: int | None
    chat_is_private: bool = True
    chat_id: int | None = None
    user_id: int | None = None
    guessing_blocked: bool = False
    # Asked only when a message looks something up by number, offer or token: counting a
    # sender's misses costs a query that most messages do not need.
    guessing_check: Callable[[], bool] | None = None

    def blocked(self) -> bool:
        """Whether this sender's look-ups are refused for now (see the module docstring)."""
        if self.guessing_blocked:
            return True
        return self.guessing_check is not None and self.guessing_check()


@dataclass(frozen=True, slots=True)
class SharedContact:
    """A contact card shared in a Telegram chat: its phone and, if it is a Telegram user, id."""

    phone: str
    user_id: int | None


@dataclass(frozen=True, slots=True)
class Incoming:
    """A text message, or the callback data of a pressed Telegram button.

    ``provider_handled_opt_out``: the provider already answered a STOP/START/HELP keyword
    (Twilio sends ``OptOutType`` then); the state is recorded and the reply is empty.
    ``opt_out_type``: Twilio's ``OptOutType`` value itself; when given it also says which kind
    of keyword it was, over what our parser makes of the text.
    """

    text: str = ""
    button_data: str | None = None
    provider_handled_opt_out: bool = False
    opt_out_type: str | None = None
    contact: SharedContact | None = None
    # Telegram: what came instead of (or with, as a caption in ``text``) plain text: "photo",
    # "sticker", "voice", "document", "location"... (``bot.telegram.updates``).
    attachment: str | None = None

    @classmethod
    def button(cls, data: str) -> Incoming:
        return cls(button_data=data)

    @property
    def provider_answered(self) -> bool:
        return self.provider_handled_opt_out or self.opt_out_type is not None


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer. ``text`` is None when nothing is to be said (the provider already did)."""

    intent: Intent
    message: str | None  # the template's name, for logs and metrics
    text: str | None
    buttons: tuple[Button, ...] = ()
    actions: tuple[Action, ...] = ()
    # The same news is on its way through the outbox (see the module docstring).
    also_queued: bool = False
