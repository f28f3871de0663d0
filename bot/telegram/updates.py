"""A Telegram update as the conversation receives it: what the customers' bot, the agents'
commands and the webhook share (its own module, so that none of them imports another)."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ChatType

from bot.conversation import Incoming, SharedContact
from bot.inbound import Received
from store.models import Channel

__all__ = ["received_from_update"]


def received_from_update(update: Update, payload: dict[str, Any] | None = None) -> Received | None:
    """What the conversation needs from an update, or None for updates it does not handle."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return None
    incoming: Incoming
    query, message = update.callback_query, update.message
    if query is not None:
        incoming = Incoming.button(query.data or "")
    elif message is not None and message.contact is not None:
        contact = message.contact
        incoming = Incoming(contact=SharedContact(contact.phone_number, contact.user_id))
    elif message is not None and message.text is not None:
        incoming = Incoming(text=message.text)
    else:
        return None
    return Received(
        Channel.TELEGRAM,
        str(update.update_id),
        str(chat.id),
        incoming,
        chat_is_private=chat.type == ChatType.PRIVATE,
        user_id=user.id if user is not None else None,
        payload=payload,
    )
