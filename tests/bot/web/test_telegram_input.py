"""Telegram input that is not plain text (issue 13), through the real webhook and the real
python-telegram-bot handlers, with update shapes as the Bot API documents them: a caption is
read as text, a sticker, voice note, file or location is answered with what the bot can read
(in the customer's language) and logged for an agent, and ``/command@otherbot`` in a group is
someone else's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from store.db import Database
from store.models import Customer, InboundMessage
from tests.bot.web.telegram_harness import CHAT, GROUP, Bot, message, running_bot
from tests.messaging.fake_providers import FakeProviders

pytestmark = pytest.mark.asyncio

OUR_BOT = "backorder_test_bot"  # the username the fake getMe answers
_FILE = {"file_id": "AgACAgIAAxkBAAIB", "file_unique_id": "AQADAgAT"}
MEDIA: dict[str, Any] = {
    "photo": [{**_FILE, "width": 90, "height": 67}, {**_FILE, "width": 1280, "height": 960}],
    "sticker": {
        **_FILE,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    },
    "voice": {**_FILE, "duration": 3, "mime_type": "audio/ogg"},
    "document": {**_FILE, "file_name": "receipt.pdf", "mime_type": "application/pdf"},
    "location": {"latitude": 40.4168, "longitude": -3.7038},
}


@pytest_asyncio.fixture
async def bot(
    committed_db: Database, fake: FakeProviders, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Bot]:
    monkeypatch.chdir(tmp_path)
    async with running_bot(committed_db, fake) as running:
        yield running


def media(kind: str, caption: str | None = None, **where: Any) -> dict[str, Any]:
    update = message("", **where)
    del update["message"]["text"]
    update["message"][kind] = MEDIA[kind]
    if caption is not None:
        update["message"]["caption"] = caption
    return update


def logged(db: Database, update: dict[str, Any]) -> InboundMessage | None:
    with db.read_session() as session:
        return session.scalars(
            select(InboundMessage).where(InboundMessage.provider_id == str(update["update_id"]))
        ).first()


async def test_a_photo_with_a_caption_is_read_as_its_text(bot: Bot, linked: None) -> None:
    update = media("photo", "where is my order?")
    [sent] = await bot.sent_after(update)
    assert "A1001" in sent.fields["text"]  # the status answer
    row = logged(bot.db, update)
    assert row is not None
    assert row.body == "[photo] where is my order?"
    assert row.intent == "status"
    assert bot.fake.violations == []


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("sticker", "stickers"),
        ("voice", "voice messages"),
        ("document", "files"),
        ("location", "locations"),
        ("photo", "photos"),
    ],
)
async def test_non_text_is_answered_with_what_the_bot_can_read_and_logged(
    bot: Bot, linked: None, kind: str, said: str
) -> None:
    update = media(kind)
    [sent] = await bot.sent_after(update)
    assert f"I can't read {said}, only words" in sent.fields["text"]
    assert "/status" in sent.fields["text"]
    row = logged(bot.db, update)
    assert row is not None
    assert row.body == f"[{kind}]"
    assert row.intent == "attachment"
    assert row.customer_id is not None  # on the customer's timeline for an agent to see
    assert bot.fake.violations == []


async def test_a_spanish_customer_is_answered_in_spanish(bot: Bot, linked: None) -> None:
    with bot.db.session() as session:
        session.scalars(select(Customer)).one().locale = "es"
    [sent] = await bot.sent_after(media("voice"))
    assert "No puedo leer mensajes de voz" in sent.fields["text"]


async def test_a_command_for_another_bot_in_a_group_is_ignored(bot: Bot, linked: None) -> None:
    update = message("/status@some_other_bot", chat=GROUP, user=CHAT, group=True)
    assert (await bot.post(update)).status_code == 200
    await asyncio.sleep(0.2)
    assert bot.calls("sendMessage") == []
    assert logged(bot.db, update) is None


async def test_a_command_for_our_bot_in_a_group_is_ours(bot: Bot, linked: None) -> None:
    update = message(f"/help@{OUR_BOT}", chat=GROUP, user=CHAT, group=True)
    [sent] = await bot.sent_after(update)
    assert sent.fields["chat_id"] == GROUP
    assert "/status" in sent.fields["text"]


async def test_a_groups_photo_without_words_is_not_for_the_bot(bot: Bot, linked: None) -> None:
    update = media("sticker", chat=GROUP, user=CHAT, group=True)
    assert (await bot.post(update)).status_code == 200
    await asyncio.sleep(0.2)
    assert bot.calls("sendMessage") == []
