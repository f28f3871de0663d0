"""Sandbox mode's stand-ins for the providers' side of inbound messages, for the simulator.

- :class:`SandboxKeys`: with no credentials configured, the webhooks would refuse everyone.
  In sandbox mode the app makes per-process keys (a Twilio auth token, a Telegram secret) that
  only the simulator knows, and it signs its requests with them exactly as Twilio and Telegram
  would: the same verification, the same handlers. The keys never leave the process.
- :class:`SandboxBotApi`: a Telegram Bot API that never leaves the process.

With no credentials the Telegram handlers still run (the simulator posts updates to the real
webhook route), and what they answer must go somewhere a person can read: this stands in for
``api.telegram.org`` at python-telegram-bot's own seam (``BaseRequest``). ``sendMessage`` is
written to the sandbox log through a :class:`SandboxChannel`, the same file the dispatcher's
sandbox channels write, so the simulator shows inline answers and outbox news in one thread.
Other methods the handlers call (``answerCallbackQuery``, ``setWebhook``...) just succeed.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from telegram.request import BaseRequest, RequestData

from messaging.channels.sandbox import SandboxChannel
from messaging.types import Button, ChannelKind, OutgoingMessage

__all__ = ["SANDBOX_BOT", "SANDBOX_TOKEN", "SandboxBotApi", "SandboxKeys"]

SANDBOX_TOKEN = "1:sandbox"  # noqa: S105 - not a real token's shape on purpose: it can never work upstream
SANDBOX_BOT = {
    "id": 1,
    "is_bot": True,
    "first_name": "Sandbox bot",
    "username": "sandbox_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass(frozen=True, slots=True)
class SandboxKeys:
    """The keys the simulator signs with, made fresh for each process."""

    twilio_auth_token: str
    telegram_secret: str
    # What Twilio signatures are computed over; never resolved, never fetched.
    public_base_url: str = "http://sandbox.invalid"

    @classmethod
    def generate(cls) -> SandboxKeys:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32))


class SandboxBotApi(BaseRequest):
    """python-telegram-bot's transport, answering locally and recording what is sent."""

    def __init__(self, channel: SandboxChannel) -> None:
        self._channel = channel
        self._message_ids = itertools.count(1)

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        fields = request_data.parameters if request_data is not None else {}
        result: Any = True
        if api_method == "getMe":
            result = SANDBOX_BOT
        elif api_method == "sendMessage":
            result = await self._send(fields)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    async def _send(self, fields: dict[str, Any]) -> dict[str, Any]:
        chat_id, text = fields["chat_id"], str(fields["text"])
        await self._channel.send(
            OutgoingMessage(
                ChannelKind.TELEGRAM,
                str(chat_id),
                text,
                _inline_buttons(fields.get("reply_markup")),
                metadata={"via": "reply"},
            )
        )
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {k: SANDBOX_BOT[k] for k in ("id", "is_bot", "first_name", "username")},
            "text": text,
        }


def _inline_buttons(markup: Any) -> tuple[Button, ...]:
    if isinstance(markup, str):
        markup = json.loads(markup)
    if not isinstance(markup, dict):
        return ()
    return tuple(
        Button(str(button.get("text", "")), str(button.get("callback_data", "")))
        for row in markup.get("inline_keyboard", [])
        for button in row
        if isinstance(button, dict)
    )
