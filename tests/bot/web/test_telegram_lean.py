"""The webhook's lean path for Telegram status questions and help: handled in the request,
without python-telegram-bot's object model, and answered exactly as PTB's handlers answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.inbound import Inbound
from bot.web import telegram_webhook
from store.db import Database
from store.models import Customer, InboundMessage
from tests.bot.web.telegram_harness import Bot, message, running_bot
from tests.messaging.fake_providers import FakeProviders

pytestmark = pytest.mark.asyncio

TEXTS = ["STATUS", "/status", "where is my order?", "STATUS A1001", "STATUS B9", "/help", "HELP"]
SENT_FIELDS = ("chat_id", "text", "parse_mode", "reply_markup", "link_preview_options")


@pytest_asyncio.fixture
async def bot(
    committed_db: Database,
    fake: FakeProviders,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[Bot]:
    monkeypatch.chdir(tmp_path)
    async with running_bot(committed_db, fake) as running:
        yield running


@pytest.fixture
def lean_answers(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What the lean path made of each update (None: left to PTB)."""
    seen: list[object] = []
    original = telegram_webhook.common_text_received

    def spy(data: dict[str, Any]) -> object:
        seen.append(result := original(data))
        return result

    monkeypatch.setattr(telegram_webhook, "common_text_received", spy)
    return seen


async def _fields(bot: Bot, text: str) -> dict[str, Any]:
    [sent] = await bot.sent_after(message(text))
    return {name: sent.fields.get(name) for name in SENT_FIELDS}


@pytest.mark.parametrize("locale", ["en", "es"])
async def test_lean_answers_are_ptbs_byte_for_byte(
    bot: Bot,
    linked: None,
    lean_answers: list[object],
    monkeypatch: pytest.MonkeyPatch,
    locale: str,
) -> None:
    with bot.db.session() as session:
        session.scalars(select(Customer)).one().locale = locale
    lean = [await _fields(bot, text) for text in TEXTS]
    assert all(answer is not None for answer in lean_answers)  # every one went the lean way
    monkeypatch.setattr(telegram_webhook, "common_text_received", lambda data: None)
    full = [await _fields(bot, text) for text in TEXTS]
    assert lean == full
    assert bot.fake.violations == []


@pytest.mark.parametrize(
    "text", ["/start", "/stop", "STOP", "1", "/eta MUG 2026-12-20", "/status@otherbot", "hola"]
)
async def test_everything_else_goes_through_ptb(
    bot: Bot, linked: None, lean_answers: list[object], text: str
) -> None:
    response = await bot.post(message(text))
    assert response.status_code == 200
    assert lean_answers == [None]
    await asyncio.sleep(0.1)  # PTB's handler finishes before the bot stops


async def test_a_group_chat_is_left_to_ptb(
    bot: Bot, linked: None, lean_answers: list[object]
) -> None:
    await bot.post(message("STATUS", group=True))
    assert lean_answers == [None]


async def test_a_lean_update_whose_handling_fails_stays_logged_for_the_replay(
    bot: Bot, linked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Inbound, received: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(Inbound, "handle", broken)
    update = message("STATUS")
    response = await bot.post(update)
    assert response.status_code == 200  # logged: Telegram need not send it again
    with bot.db.read_session() as session:
        row = session.scalars(
            select(InboundMessage).where(InboundMessage.provider_id == str(update["update_id"]))
        ).one()
    assert row.handled_at is None
    assert row.payload == update  # what bot.telegram.retry replays
    await asyncio.sleep(0.05)
    assert bot.calls("sendMessage") == []
