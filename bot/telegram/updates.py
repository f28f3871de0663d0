"""A Telegram update as the conversation receives it: what the customers' bot, the agents'
commands and the webhook share (its own module, so that none of them imports another).

Besides plain text: a caption is read as the text it is (a photo of a parcel with "where is
my order?"), and a sticker, voice note, file or location is passed on as an ``attachment`` so
the bot can say what it can read instead, and the message is logged for an agent to see. In a
group, only words reach the bot (a group's photos are not addressed to it), and a command
addressed to another bot (``/status@otherbot``) is someone else's: ignored, not logged.
"""

from __future__ import annotations

from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType, MessageEntityType

from bot.conversation import Incoming, SharedContact
from bot.inbound import Received
from store.models import Channel

__all__ = ["ATTACHMENTS", "received_from_update"]

# Message fields that carry something other than words, in the order they are checked.
ATTACHMENTS = (
    "sticker",
    "voice",
    "audio",
    "video_note",
    "animation",  # before "document": Telegram sends a GIF as both
    "video",
    "photo",
    "document",
    "venue",  # before "location": a venue carries its location too
    "location",
    "poll",
    "dice",
)


def received_from_update(update: Update, payload: dict[str, Any] | None = None) -> Received | None:
    """What the conversation needs from an update, or None for updates it does not handle."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return None
    private = chat.type == ChatType.PRIVATE
    query, message = update.callback_query, update.message
    incoming: Incoming | None
    if query is not None:
        incoming = Incoming.button(query.data or "")
    elif message is not None:
        incoming = _from_message(message, private)
    else:
        incoming = None
    if incoming is None:
        return None
    return Received(
        Channel.TELEGRAM,
        str(update.update_id),
        str(chat.id),
        incoming,
        chat_is_private=private,
        user_id=user.id if user is not None else None,
        payload=payload,
    )


def _from_message(message: Message, private: bool) -> Incoming | None:
    if message.contact is not None:
        contact = message.contact
        return Incoming(contact=SharedContact(contact.phone_number, contact.user_id))
    attachment = next((kind for kind in ATTACHMENTS if getattr(message, kind, None)), None)
    if message.text is not None:
        return None if _for_another_bot(message) else Incoming(text=message.text)
    if message.caption is not None:
        return Incoming(text=message.caption, attachment=attachment)
    if attachment is not None and private:
        return Incoming(attachment=attachment)
    return None


def _for_another_bot(message: Message) -> bool:
    """``/command@name`` where ``name`` is not this bot's username."""
    text = message.text or ""
    entity = next(iter(message.entities), None)
    if entity is None or entity.type != MessageEntityType.BOT_COMMAND or entity.offset != 0:
        return False
    command = text[: entity.length]
    if "@" not in command:
        return False
    addressed = command.split("@", 1)[1].lower()
    try:
        ours = message.get_bot().username
    except RuntimeError:  # no bot attached (a test building updates by hand): cannot tell
        return False
    return addressed != (ours or "").lower()
