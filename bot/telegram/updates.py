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

from bot.conversation import Incoming, IntentKind, SharedContact, parse
from bot.inbound import Received
from store.models import Channel

__all__ = ["ATTACHMENTS", "common_text_received", "received_from_update"]

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


# The commands a customer's status question or help may start with; any other command (an
# agent's /eta, /start with a token, /stop) goes through python-telegram-bot's handlers.
_COMMON_COMMANDS = frozenset({"/status", "/help"})
_COMMON_KINDS = frozenset({IntentKind.STATUS, IntentKind.HELP})


def common_text_received(data: dict[str, Any]) -> Received | None:
    """The update as :func:`received_from_update` reads it, straight from Telegram's JSON, when
    it is the common case: plain text in a private chat that asks for the status or for help.
    None for anything else (the caller then takes python-telegram-bot's way).

    ``Update.de_json`` and PTB's dispatch cost more CPU than answering the question
    (issue 16). The fields checked are the ones ``de_json`` requires of such an update, so an
    update it would refuse is never answered here.
    """
    message = data.get("message")
    if set(data) != {"update_id", "message"} or not isinstance(message, dict):
        return None
    chat, user, text = message.get("chat"), message.get("from"), message.get("text")
    if not isinstance(chat, dict) or not isinstance(user, dict) or not isinstance(text, str):
        return None
    if chat.get("type") != ChatType.PRIVATE or type(chat.get("id")) is not int:
        return None
    if type(user.get("id")) is not int or user.get("is_bot") is not False:
        return None
    if not isinstance(user.get("first_name"), str):
        return None
    if type(message.get("message_id")) is not int or type(message.get("date")) is not int:
        return None
    if "contact" in message or "caption" in message or any(k in message for k in ATTACHMENTS):
        return None
    first = text.split(maxsplit=1)[0].lower() if text.strip() else ""
    if first.startswith("/") and first not in _COMMON_COMMANDS:
        return None  # another command, or one addressed to a bot by name (/status@name)
    if parse(text).kind not in _COMMON_KINDS:
        return None
    return Received(
        Channel.TELEGRAM,
        str(data["update_id"]),
        str(chat["id"]),
        Incoming(text=text),
        chat_is_private=True,
        user_id=user["id"],
        payload=data,
    )
