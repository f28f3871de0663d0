"""Telegram delivery through python-telegram-bot's ``Bot``, over :class:`AiohttpRequest`.

Every ``telegram.error`` is translated into :class:`SendError` by :func:`to_send_error`, the
only place that knows Telegram's failure vocabulary.
"""

from __future__ import annotations

import asyncio
import datetime as dtm

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from messaging.channels.aiohttp_request import AiohttpRequest
from messaging.channels.base import SendError, check_kind
from messaging.channels.unsent import never_sent
from messaging.types import Button, ChannelKind, OutgoingMessage

DEFAULT_BASE_URL = "https://api.telegram.org/bot"

# Previews of links (order pages, tracking) would push the buttons below a large card.
# Serialized once: PTB would otherwise rebuild the same dict on every send.
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True).to_dict()


# Substrings of Telegram's descriptions, lower-cased; PTB keeps "Forbidden: " and turns
# "Bad Request: chat not found" into "Chat not found".
_FORBIDDEN_REASONS = (
    ("bot was blocked by the user", "telegram_blocked"),
    ("user is deactivated", "telegram_user_deactivated"),
)
_CHAT_NOT_FOUND = ("chat not found", "peer_id_invalid", "user not found")


def _prepared(values: dict[str, object]) -> RequestData:
    """Request data for parameters that are plain JSON values already.

    PTB's ``Bot._do_post`` builds each parameter with ``RequestParameter.from_input``, which
    looks inside every value for files, telegram objects, dates and enums (abstract-class
    checks, per nested item); for a message of plain strings, ints and dicts that finds nothing
    and cost about a tenth of the CPU per send. The parameters are built directly instead (a
    PTB-internal class, pinned by ``python-telegram-bot<23``); a test holds the result to
    what ``Bot._post`` builds.
    """
    return RequestData([RequestParameter(name, value, None) for name, value in values.items()])


class _SendingBot(Bot):
    """A ``Bot`` whose sends answer with the message id only.

    ``Bot.send_message`` turns every answer into a ``telegram.Message``; measured against the
    fake provider that is half of the CPU per send (about 0.4 ms of 0.8), all for a result the
    dispatcher discards but for its id. The request goes through the transport's
    ``BaseRequest.post``, so PTB still turns every error answer into its exceptions; only the
    building of the parameters (``_insert_defaults``, ``RequestParameter``) is skipped, which
    has nothing to do for these values (see :func:`_prepared`). The channel tests pin
    the wire format, so an upgrade that changes it fails loudly.
    """

    async def send_text(
        self,
        chat_id: int | str,
        text: str,
        reply_markup: dict[str, object] | None,
    ) -> int:
        """sendMessage in HTML without link previews; returns the ``message_id``."""
        data: dict[str, object] = {
            "chat_id": chat_id,
            "text": text,
            "parse_mode": ParseMode.HTML.value,
            "link_preview_options": _NO_PREVIEW,
        }
        if reply_markup is not None:  # PTB drops None values: Telegram mishandles them
            data["reply_markup"] = reply_markup
        result = await self._request[1].post(
            url=f"{self._base_url}/sendMessage", request_data=_prepared(data)
        )
        assert isinstance(result, dict)
        return int(result["message_id"])


class TelegramChannel:
    """Sends HTML messages with one inline button per row to a Telegram chat id.

    ``concurrency`` bounds requests in flight (and sizes the default connection pool).
    ``request`` replaces the transport, e.g. a fake in tests; the channel owns it and shuts
    it down in :meth:`close`.

    The bot never calls ``getMe`` (``Bot.initialize``): sending does not need it, and skipping
    it spares a round trip and a start-up failure mode; a bad token surfaces on the first send
    as ``provider_auth``.
    """

    kind = ChannelKind.TELEGRAM

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        request: BaseRequest | None = None,
        concurrency: int = 100,
    ) -> None:
        self._request = request or AiohttpRequest(connection_pool_size=concurrency)
        # The same request object serves getUpdates too, so PTB does not build an idle httpx
        # client we would have to close; this channel never polls.
        self._bot = _SendingBot(
            token, base_url=base_url, request=self._request, get_updates_request=self._request
        )
        self._slots = asyncio.Semaphore(concurrency)
        self._ready = False
        self._ready_lock = asyncio.Lock()

    async def send(self, message: OutgoingMessage) -> str:
        """Send ``message``; return Telegram's ``message_id`` (unique within the chat)."""
        check_kind(self.kind, message)
        async with self._slots:
            await self._ensure_ready()
            try:
                message_id = await self._bot.send_text(
                    _chat_id(message.address), message.text, _keyboard(message.buttons)
                )
            except TelegramError as exc:
                raise to_send_error(exc) from exc
        return str(message_id)

    async def close(self) -> None:
        """Close the transport's connections."""
        if self._ready:
            self._ready = False
            await self._request.shutdown()

    async def _ensure_ready(self) -> None:
        if self._ready:
            return
        async with self._ready_lock:
            if not self._ready:
                await self._request.initialize()
                self._ready = True


def _chat_id(address: str) -> int | str:
    """Numeric chat ids go as integers; ``@channelname`` addresses stay text."""
    try:
        return int(address)
    except ValueError:
        return address


def _keyboard(buttons: tuple[Button, ...]) -> dict[str, object] | None:
    """The Bot API's InlineKeyboardMarkup as plain JSON.

    Built by hand, not with PTB's ``InlineKeyboardMarkup``: at 1,000 sends/s, constructing and
    serialising PTB's objects was the largest CPU cost per send after the HTTP client. The
    fake provider checks this shape against the Bot API spec in the tests.
    """
    if not buttons:
        return None
    # One button per row: labels such as "Wait for it (10% off)" get truncated side by side.
    return {"inline_keyboard": [[{"text": b.label, "callback_data": b.data}] for b in buttons]}


def to_send_error(exc: TelegramError) -> SendError:
    """Translate a python-telegram-bot error into the channel contract's :class:`SendError`."""
    detail = exc.message
    if isinstance(exc, Forbidden):
        return SendError(_forbidden_reason(detail), detail, permanent=True)
    if isinstance(exc, RetryAfter):
        return SendError("rate_limited", detail, retry_after=_retry_after_seconds(exc))
    if isinstance(exc, ChatMigrated):
        # The group became a supergroup with a new id; the address on file must change first.
        return SendError("telegram_chat_migrated", str(exc.new_chat_id), permanent=True)
    if isinstance(exc, InvalidToken):
        # Not permanent: the token is wrong for every message alike, and once an operator
        # fixes it the queued messages should still go out.
        return SendError("provider_auth", detail)
    if isinstance(exc, BadRequest):
        return _bad_request(detail)
    if isinstance(exc, TimedOut):
        return SendError("timeout", detail, outcome_unknown=not _never_sent(exc))
    if isinstance(exc, NetworkError):
        return _network_error(exc)
    # Conflict, or a 2xx answer that did not parse: the message may well exist.
    return SendError("provider_error", detail, outcome_unknown=type(exc) is TelegramError)


def _forbidden_reason(detail: str) -> str:
    lowered = detail.lower()
    for needle, reason in _FORBIDDEN_REASONS:
        if needle in lowered:
            return reason
    return "telegram_forbidden"


def _bad_request(detail: str) -> SendError:
    lowered = detail.lower()
    if any(needle in lowered for needle in _CHAT_NOT_FOUND):
        return SendError("telegram_chat_not_found", detail, permanent=True)
    return SendError("telegram_bad_request", detail, permanent=True)


def _network_error(exc: NetworkError) -> SendError:
    if exc.__cause__ is None or isinstance(exc.__cause__, TelegramError):
        # PTB raised it for an HTTP status (5xx) Telegram answered with; a TelegramError cause
        # only says that the error page was not JSON.
        return SendError("provider_error", exc.message)
    return SendError("network", exc.message, outcome_unknown=not _never_sent(exc))


def _never_sent(exc: TelegramError) -> bool:
    return never_sent(exc.__cause__)


def _retry_after_seconds(exc: RetryAfter) -> float:
    # The public attribute warns in PTB 22.2+ unless PTB_TIMEDELTA is set process-wide;
    # PTB's own AIORateLimiter reads the stored timedelta the same way.
    stored = getattr(exc, "_retry_after", None)
    if isinstance(stored, dtm.timedelta):
        return stored.total_seconds()
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)
