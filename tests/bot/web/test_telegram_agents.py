"""Telegram agent commands end to end (webhook, real PTB application, fake Bot API): only
allow-listed agents are obeyed; everyone else's /eta is a customer's unknown command."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from store.agents import add_agent
from store.db import Database
from store.models import AuditEntry, Broadcast, OutboxMessage, Product, utcnow
from tests import factories as f
from tests.bot.web.telegram_harness import (
    CHAT,
    STRANGER,
    Bot,
    button,
    message,
    running_bot,
)
from tests.messaging.fake_providers import FakeProviders

pytestmark = pytest.mark.asyncio

AGENT = CHAT  # the agent's Telegram user id (a private chat's id is its user's)
OTHER_AGENT = 5_000_000_003


@pytest.fixture
def shop(committed_db: Database) -> None:
    """An agent allow-listed for AGENT, another for OTHER_AGENT, and three customers on OVEN."""
    with committed_db.session() as session:
        add_agent(session, "ada", "correct horse battery", now=utcnow(), telegram_user_id=AGENT)
        add_agent(
            session, "bob", "correct horse staple", now=utcnow(), telegram_user_id=OTHER_AGENT
        )
        f.product(session, "OVEN", eta=dt.date(2026, 12, 1))
        for number in ("A1", "A2", "A3"):
            f.order(session, number, [("OVEN", 1)])
    return


@pytest_asyncio.fixture
async def bot(
    committed_db: Database,
    fake: FakeProviders,
    shop: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[Bot]:
    monkeypatch.chdir(tmp_path)
    async with running_bot(committed_db, fake) as running:
        yield running


def eta_of(db: Database, sku: str) -> dt.date | None:
    with db.read_session() as session:
        return session.scalar(select(Product.eta).where(Product.sku == sku))


def broadcasts(db: Database) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Broadcast)) or 0


async def test_backorders_lists_the_board_for_an_agent(bot: Bot) -> None:
    [sent] = await bot.sent_after(message("/backorders"))
    assert sent.fields["chat_id"] == AGENT
    assert "OVEN" in sent.fields["text"]
    assert "3 waiting" in sent.fields["text"]
    assert bot.fake.violations == []


async def test_eta_moves_the_date_for_an_agent(bot: Bot) -> None:
    [sent] = await bot.sent_after(message("/eta OVEN 2027-01-20"))
    assert "2027-01-20" in sent.fields["text"]
    assert eta_of(bot.db, "OVEN") == dt.date(2027, 1, 20)


async def test_eta_with_a_bad_date_explains_the_usage(bot: Bot) -> None:
    [sent] = await bot.sent_after(message("/eta OVEN soon"))
    assert "YYYY-MM-DD" in sent.fields["text"]
    assert eta_of(bot.db, "OVEN") == dt.date(2026, 12, 1)


async def test_a_stranger_gets_no_agent_data_and_changes_nothing(bot: Bot) -> None:
    for text in ("/backorders", "/eta OVEN 2027-01-20", "/broadcast OVEN Hello"):
        [sent] = await bot.sent_after(message(text, chat=STRANGER, user=STRANGER))
        assert sent.fields["chat_id"] == STRANGER
        assert "OVEN" not in sent.fields["text"]
        assert "waiting" not in sent.fields["text"]
    assert eta_of(bot.db, "OVEN") == dt.date(2026, 12, 1)
    assert broadcasts(bot.db) == 0


async def test_customer_commands_still_work_for_a_stranger(bot: Bot) -> None:
    [sent] = await bot.sent_after(message("/help", chat=STRANGER, user=STRANGER))
    assert sent.fields["chat_id"] == STRANGER
    assert sent.fields["text"]


async def test_an_agent_in_a_group_chat_is_not_answered_as_an_agent(bot: Bot) -> None:
    await bot.handled(message("/backorders", chat=-100_123, user=AGENT, group=True))
    assert all("OVEN" not in c.fields["text"] for c in bot.calls("sendMessage"))


async def test_a_redelivered_command_is_obeyed_once(bot: Bot) -> None:
    update = message("/backorders")
    await bot.sent_after(update)
    again = await bot.post(update)
    assert again.status_code == 200
    await bot.settled(lambda: bot.is_handled(update["update_id"]))
    assert len(bot.calls("sendMessage")) == 1


async def preview(bot: Bot, text: str = "/broadcast OVEN Hi {{ first_name }}, news soon") -> str:
    """Ask for a preview; returns its confirm button's callback data."""
    [sent] = await bot.sent_after(message(text))
    assert "3 of 3" in sent.fields["text"]
    [[confirm]] = sent.fields["reply_markup"]["inline_keyboard"]
    data: str = confirm["callback_data"]
    assert data.startswith("agent:bc:")
    assert len(data.encode()) <= 64
    return data


async def test_broadcast_previews_and_writes_nothing_until_confirmed(bot: Bot) -> None:
    await preview(bot)
    assert broadcasts(bot.db) == 0
    with bot.db.read_session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "broadcast.previewed")
        ).one()
        assert (entry.actor, entry.details["telegram_user_id"]) == ("ada", AGENT)


async def test_confirming_twice_sends_one_broadcast(bot: Bot) -> None:
    data = await preview(bot)
    [done] = await bot.sent_after(button(data))
    assert "queued" in done.fields["text"]
    [again] = await bot.sent_after(button(data))
    assert "already" in again.fields["text"]
    with bot.db.read_session() as session:
        broadcast = session.scalars(select(Broadcast)).one()
        assert broadcast.created_by == "ada"
        queued = session.scalar(
            select(func.count()).where(OutboxMessage.broadcast_id == broadcast.id)
        )
    assert queued == 3
    await bot.settled(lambda: len(bot.calls("answerCallbackQuery")) == 2)


async def test_only_the_agent_who_asked_can_confirm(bot: Bot) -> None:
    data = await preview(bot)
    [sent] = await bot.sent_after(button(data, chat=OTHER_AGENT))
    assert "expired or is not yours" in sent.fields["text"]
    assert broadcasts(bot.db) == 0


async def test_a_stranger_pressing_the_confirm_button_sends_nothing(bot: Bot) -> None:
    data = await preview(bot)
    await bot.handled(button(data, chat=STRANGER))
    await bot.settled(lambda: len(bot.calls("answerCallbackQuery")) == 1)
    assert broadcasts(bot.db) == 0


async def test_a_broadcast_with_an_unknown_placeholder_is_refused(bot: Bot) -> None:
    [sent] = await bot.sent_after(message("/broadcast OVEN Hi {{ nickname }}"))
    assert "unknown placeholder" in sent.fields["text"]
    assert "reply_markup" not in sent.fields


async def test_a_costly_broadcast_text_is_refused(bot: Bot) -> None:
    [sent] = await bot.sent_after(message("/broadcast OVEN {{ 'x' * 20000000 }}"))
    assert "longer than 4,000 characters" in sent.fields["text"]
    assert "reply_markup" not in sent.fields
    assert broadcasts(bot.db) == 0


async def test_a_many_segment_broadcast_preview_warns(bot: Bot) -> None:
    long = "Hi {{ first_name }}. " + "This is a long note about your order. " * 20
    [sent] = await bot.sent_after(message("/broadcast OVEN " + long))
    assert "Warning" in sent.fields["text"]
    assert "segments long" in sent.fields["text"]


async def test_eta_in_the_past_is_refused_for_an_agent(bot: Bot) -> None:
    [sent] = await bot.sent_after(message("/eta OVEN 2020-01-01"))
    assert "is in the past" in sent.fields["text"]
    assert eta_of(bot.db, "OVEN") == dt.date(2026, 12, 1)
