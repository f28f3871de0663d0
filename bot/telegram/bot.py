"""The Telegram side of the conversation, on python-telegram-bot's ``Application``.

Handlers are small: each turns an update into a :class:`bot.inbound.Received`, lets
:class:`bot.inbound.Inbound` log and handle it (off the event loop: it is database work), and
sends the answer. The same handlers serve both ways updates arrive:

- **webhook** (``PUBLIC_BASE_URL`` set): ``bot.web.telegram_webhook`` checks the secret token,
  logs the update and puts it on ``application.update_queue``; on start the webhook is
  registered with Telegram together with the secret;
- **polling** (no public URL, local runs): the ``Updater`` fetches updates itself. Only one
  process may poll a bot at a time (Telegram answers the second with 409 Conflict).

Pressed buttons are always answered (``answerCallbackQuery``), or the customer's client shows a
spinner for a long while. Replies whose news the outbox is sending anyway are not sent here.
Answers Telegram provably did not take are sent again (``bot.telegram.replies``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.inbound import Handled, Inbound, Received
from bot.telegram.agents import AgentCommands
from bot.telegram.replies import deliver
from bot.telegram.retry import retrying_failed_updates
from bot.telegram.updates import received_from_update
from messaging.types import Button

__all__ = [
    "ALLOWED_UPDATES",
    "build_application",
    "running",
    "send_answer",
]

logger = logging.getLogger(__name__)

# Only what the handlers use: Telegram then does not send (or retry) anything else.
ALLOWED_UPDATES = ("message", "callback_query")
COMMANDS = ("start", "status", "help", "stop")
# A buttons template line with this data asks for the customer's phone number instead.
SHARE_CONTACT = "share_contact"
# Updates handled at once. PTB's default is one at a time, which caps a webhook bot at one
# database round trip per update; the database, not the event loop, keeps things consistent.
CONCURRENT_UPDATES = 16

Context = ContextTypes.DEFAULT_TYPE
_NOT_WORDS = (
    filters.CAPTION
    | filters.Sticker.ALL
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.ANIMATION
    | filters.PHOTO
    | filters.Document.ALL
    | filters.LOCATION
    | filters.VENUE
    | filters.POLL
    | filters.Dice.ALL
)


def build_application(
    token: str,
    inbound: Inbound,
    *,
    base_url: str,
    webhook: bool,
    request: BaseRequest | None = None,
    agents: AgentCommands | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The PTB application with every handler registered; not yet initialized or started.

    ``agents``: the support agents' commands (``bot.telegram.agents``), if any.
    """
    builder = ApplicationBuilder().token(token).base_url(base_url)
    builder = builder.concurrent_updates(CONCURRENT_UPDATES)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    handlers = _Handlers(inbound)
    application.add_handler(CommandHandler(list(COMMANDS), handlers.on_text))
    application.add_handler(MessageHandler(filters.CONTACT, handlers.on_contact))
    application.add_handler(MessageHandler(filters.TEXT, handlers.on_text))
    # Captions are read as text; stickers, voice notes, files and locations get an answer
    # saying what the bot can read (``bot.telegram.updates``).
    application.add_handler(MessageHandler(_NOT_WORDS, handlers.on_text))
    application.add_handler(CallbackQueryHandler(handlers.on_button))
    # --- Agent commands (issue 5): a group before the customers' (0). They act only for
    # allow-listed agents and then stop the update; anyone else's falls through to the above.
    if agents is not None:
        application.add_handlers(agents.handlers(), group=agents.GROUP)
    # --- end of agent commands
    application.add_error_handler(_log_error)
    return application


@asynccontextmanager
async def running(
    application: Application[Any, Any, Any, Any, Any, Any],
    inbound: Inbound,
    *,
    webhook_url: str | None,
    secret_token: str | None,
) -> AsyncIterator[None]:
    """Run the application for the duration of the block: webhook or polling, then stop."""
    async with application:
        await application.start()
        if webhook_url is not None:
            await application.bot.set_webhook(
                webhook_url, secret_token=secret_token, allowed_updates=list(ALLOWED_UPDATES)
            )
        elif application.updater is not None:
            await application.updater.start_polling(allowed_updates=list(ALLOWED_UPDATES))
        try:
            async with retrying_failed_updates(application, inbound):
                yield
        finally:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            await application.stop()


class _Handlers:
    """The handlers, around one inbound service."""

    def __init__(self, inbound: Inbound) -> None:
        self._inbound = inbound

    async def on_text(self, update: Update, context: Context) -> None:
        """Commands and free text: status, offer replies, help, stop, /start <token>."""
        await self._answer(update, context)

    async def on_contact(self, update: Update, context: Context) -> None:
        """A shared contact card: links the chat when it is the sender's own."""
        await self._answer(update, context)

    async def on_button(self, update: Update, context: Context) -> None:
        """An inline-keyboard choice; the query is answered whatever happens next."""
        query = update.callback_query
        assert query is not None  # CallbackQueryHandler only calls with one
        try:
            await self._answer(update, context)
        finally:
            await deliver(query.answer, f"button acknowledgement of update {update.update_id}")

    async def _answer(self, update: Update, context: Context) -> None:
        received = received_from_update(update, update.to_dict())
        if received is None:
            return
        handled = await asyncio.to_thread(self._inbound.handle, received)
        await send_answer(context.bot, received, handled)


async def send_answer(bot: Bot, received: Received, handled: Handled) -> None:
    """Send the answer to one handled update, if it has one: the handlers' way and the
    webhook's lean path (``bot.web.telegram_webhook``) alike."""
    text = handled.text_to_send
    if text is None:
        return
    markup = _markup(handled)
    await deliver(
        lambda: bot.send_message(
            int(received.sender),
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
        f"answer to update {received.provider_id}",
    )


def _markup(
    handled: Handled,
) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    reply = handled.reply
    assert reply is not None
    buttons: Sequence[Button] = reply.buttons
    share = [b for b in buttons if b.data == SHARE_CONTACT]
    if share:
        return ReplyKeyboardMarkup(
            [[KeyboardButton(share[0].label, request_contact=True)]],
            one_time_keyboard=True,
            resize_keyboard=True,
        )
    if reply.message == "linked":
        return ReplyKeyboardRemove()  # the share-contact keyboard has done its job
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data)] for b in buttons]
    )


async def _log_error(update: object, context: Context) -> None:
    # The update stays logged and unhandled when the database failed: it is retried soon
    # (``bot.telegram.retry``). Without this handler PTB would log it too, under its own name.
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("Telegram update %s failed", update_id, exc_info=context.error)
