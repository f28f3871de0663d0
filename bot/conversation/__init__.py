"""The channel-agnostic conversation: parse a customer's message, answer it from the shop's data."""

from bot.conversation.core import (
    Action,
    Conversation,
    Incoming,
    Reply,
    Sender,
    SharedContact,
)
from bot.conversation.intents import Intent, IntentKind, parse, parse_callback

__all__ = [
    "Action",
    "Conversation",
    "Incoming",
    "Intent",
    "IntentKind",
    "Reply",
    "Sender",
    "SharedContact",
    "parse",
    "parse_callback",
]
