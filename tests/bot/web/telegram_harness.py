"""The Telegram test harness: the app with its real python-telegram-bot ``Application``, an
HTTP client for its webhook, and a fake Bot API over HTTP on 127.0.0.1 whose requests are
checked against Telegram's published API description; plus updates as Telegram sends them.

Used by the webhook, agent-command, fuzzing and secrets-in-logs tests. ``running_bot`` fails
the test on any handler error. The ``fake`` and ``linked`` fixtures are in the conftest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from telegram.ext import ContextTypes

from bot.settings import Settings
from bot.web import create_app
from bot.web.telegram_webhook import PATH, SECRET_HEADER
from store.db import Database
from store.models import Channel, InboundMessage, utcnow
from tests import factories as f
from tests.bot.web.conftest import client_for
from tests.messaging.fake_providers import TELEGRAM_TOKEN, FakeProviders, RecordedRequest

PUBLIC = "https://shop.example"
SECRET = "webhook-secret_0123456789abcdef"
CHAT = 5_000_000_001  # a private chat's id equals its user's id
STRANGER = 5_000_000_002
GROUP = -1_001_234_567_890
ETA = dt.date(2026, 12, 15)
PHONE = "+14155550188"
_update_ids = itertools.count(1000)


@dataclass
class Bot:
    """The app under test, its HTTP client and the fake Bot API behind it."""

    app: FastAPI
    client: httpx.AsyncClient
    fake: FakeProviders
    db: Database

    async def post(self, payload: Any, *, secret: str | None = SECRET) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await self.client.post(PATH, content=body, headers=headers)

    def calls(self, method: str) -> list[RecordedRequest]:
        return [r for r in self.fake.sent("telegram") if r.method == method]

    async def settled(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until the handlers have done what ``condition`` checks."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the Telegram handlers did not finish in time")
            await asyncio.sleep(0.01)

    async def sent_after(self, payload: dict[str, Any], count: int = 1) -> list[RecordedRequest]:
        """Post an update and wait until ``count`` more messages have been sent."""
        before = len(self.calls("sendMessage"))
        response = await self.post(payload)
        assert response.status_code == 200
        await self.settled(lambda: len(self.calls("sendMessage")) >= before + count)
        return self.calls("sendMessage")[before:]

    async def handled(self, payload: dict[str, Any]) -> None:
        """Post an update and wait until it is handled (whether or not anything is sent)."""
        response = await self.post(payload)
        assert response.status_code == 200
        await self.settled(lambda: self.is_handled(payload["update_id"]))
        await asyncio.sleep(0.05)  # a send, if any, follows the commit

    def is_handled(self, update_id: int) -> bool:
        with self.db.read_session() as session:
            return (
                session.scalar(
                    select(InboundMessage.handled_at).where(
                        InboundMessage.provider_id == str(update_id)
                    )
                )
                is not None
            )


def settings_for(fake: FakeProviders, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "telegram_bot_token": TELEGRAM_TOKEN,
        "telegram_api_base_url": fake.telegram_base_url,
        "public_base_url": PUBLIC,
        "telegram_webhook_secret": SECRET,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def message(
    text: str, *, chat: int = CHAT, user: int = CHAT, group: bool = False
) -> dict[str, Any]:
    entities = []
    if text.startswith("/"):
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    update: dict[str, Any] = {
        "update_id": next(_update_ids),
        "message": {
            "message_id": 1,
            "date": 1_764_000_000,
            "chat": {"id": chat, "type": "supergroup", "title": "Fans"}
            if group
            else {"id": chat, "type": "private", "first_name": "Ada"},
            "from": {"id": user, "is_bot": False, "first_name": "Ada"},
            "text": text,
        },
    }
    if entities:
        update["message"]["entities"] = entities
    return update


def contact(phone: str, contact_user: int | None, *, chat: int = CHAT) -> dict[str, Any]:
    update = message("", chat=chat, user=chat)
    del update["message"]["text"]
    card: dict[str, Any] = {"phone_number": phone, "first_name": "Ada"}
    if contact_user is not None:
        card["user_id"] = contact_user
    update["message"]["contact"] = card
    return update


def button(data: str, *, chat: int = CHAT) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": f"cq{next(_update_ids)}",
            "from": {"id": chat, "is_bot": False, "first_name": "Ada"},
            "chat_instance": "42",
            "data": data,
            "message": {
                "message_id": 7,
                "date": 1_764_000_000,
                "chat": {"id": chat, "type": "private", "first_name": "Ada"},
                "text": "Your order is on backorder.",
            },
        },
    }


@asynccontextmanager
async def running_bot(db: Database, fake: FakeProviders, **overrides: object) -> AsyncIterator[Bot]:
    app = create_app(settings_for(fake, **overrides), db)
    errors: list[BaseException] = []

    async def record(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error or RuntimeError("unknown"))

    app.state.telegram.add_error_handler(record)
    async with app.router.lifespan_context(app), client_for(app) as client:
        yield Bot(app, client, fake, db)
    assert errors == [], errors


def link_ada(db: Database) -> None:
    """Ada (PHONE), her Telegram chat linked, waiting for MUG in order A1001 (placed now): the
    ``linked`` fixture of tests/bot/web/conftest.py."""
    with db.session() as session:
        f.product(session, "MUG-ALT", stock=10, category="mugs")
        f.product(session, "MUG", eta=ETA, category="mugs", alternatives=("MUG-ALT",))
        ada = f.customer(session, phone=PHONE)
        ada.telegram_chat_id = CHAT
        ada.preferred_channel = Channel.TELEGRAM
        f.order(session, "A1001", [("MUG", 1)], who=ada, placed_at=utcnow())
