"""Telegram updates whose handling failed: retried while the bot runs, given up after an hour.

A failed update survives only as its unhandled row in ``inbound_messages`` (Telegram already
got its 200); these tests leave such rows as a failed attempt would, then run the real bot.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.telegram import retry as telegram_retry
from bot.telegram.retry import RetryPolicy
from store.db import Database
from store.models import Channel, InboundMessage, LineStatus, OrderLine, utcnow
from tests.bot.web.telegram_harness import CHAT, message, running_bot
from tests.messaging.fake_providers import TELEGRAM_TOKEN, FakeProviders

pytestmark = pytest.mark.asyncio

# Fast passes, so a test sees several within a second; the age limits are the real ones.
FAST = RetryPolicy(first_wait=0.05, max_wait=0.2)


def strand(db: Database, text: str, age: dt.timedelta) -> dict[str, Any]:
    """Leave an update as a failed attempt does: logged with its payload, never handled."""
    update = message(text)
    with db.session() as session:
        session.add(
            InboundMessage(
                channel=Channel.TELEGRAM,
                provider_id=str(update["update_id"]),
                sender=str(CHAT),
                body=text,
                payload=update,
                received_at=utcnow() - age,
            )
        )
    return update


def row_of(db: Database, update: dict[str, Any]) -> InboundMessage:
    with db.read_session() as session:
        return session.scalars(
            select(InboundMessage).where(InboundMessage.provider_id == str(update["update_id"]))
        ).one()


def line_statuses(db: Database) -> list[LineStatus]:
    with db.read_session() as session:
        return list(session.scalars(select(OrderLine.status)))


@pytest.fixture(autouse=True)
def fast_passes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(telegram_retry, "RETRY", FAST)


async def test_an_update_that_failed_while_running_is_retried_without_a_restart(
    committed_db: Database, fake: FakeProviders, linked: None
) -> None:
    async with running_bot(committed_db, fake) as bot:
        await bot.settled(lambda: bot.calls("setWebhook") != [])
        update = strand(committed_db, "STATUS", dt.timedelta(minutes=2))
        await bot.settled(lambda: len(bot.calls("sendMessage")) == 1)
        assert "A1001" in bot.calls("sendMessage")[0].fields["text"]
    assert row_of(committed_db, update).handled_at is not None


async def test_a_week_old_failed_3_is_given_up_not_replayed_and_logged_at_warning(
    committed_db: Database,
    fake: FakeProviders,
    linked: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = line_statuses(committed_db)
    update = strand(committed_db, "3", dt.timedelta(days=7))
    with caplog.at_level(logging.INFO):
        async with running_bot(committed_db, fake) as bot:
            await bot.settled(lambda: row_of(committed_db, update).handled_at is not None)
    assert bot.calls("sendMessage") == []
    assert line_statuses(committed_db) == before  # nothing cancelled
    assert row_of(committed_db, update).intent == "given_up"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    [gave_up] = [r.getMessage() for r in warnings if "gave up" in r.getMessage()]
    assert str(update["update_id"]) in gave_up
    assert "168h00m ago" in gave_up
    assert "inbound given-up" in gave_up
    for private in ('"3"', str(CHAT), TELEGRAM_TOKEN):
        assert private not in gave_up


async def test_an_update_just_inside_the_age_limit_is_still_replayed(
    committed_db: Database, fake: FakeProviders, linked: None
) -> None:
    update = strand(committed_db, "STATUS", dt.timedelta(minutes=58))
    async with running_bot(committed_db, fake) as bot:
        await bot.settled(lambda: len(bot.calls("sendMessage")) == 1)
    assert row_of(committed_db, update).intent != "given_up"


async def test_an_update_turning_too_old_while_it_keeps_failing_is_given_up(
    committed_db: Database, fake: FakeProviders, linked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit passes while the bot runs: the next pass gives up instead of replaying.
    monkeypatch.setattr(
        telegram_retry,
        "RETRY",
        RetryPolicy(
            give_up_after=dt.timedelta(minutes=1, seconds=1), first_wait=0.05, max_wait=0.2
        ),
    )
    update = strand(committed_db, "3", dt.timedelta(minutes=1, seconds=2))
    async with running_bot(committed_db, fake) as bot:
        await bot.settled(lambda: row_of(committed_db, update).handled_at is not None)
    assert bot.calls("sendMessage") == []
    assert row_of(committed_db, update).intent == "given_up"


async def test_the_wait_between_passes_doubles_while_failures_turn_up_and_is_bounded() -> None:
    policy = RetryPolicy()
    waits = [policy.first_wait]
    for _ in range(6):
        waits.append(policy.next_wait(waits[-1], found=True))
    assert waits == [30, 60, 120, 240, 300, 300, 300]
    assert policy.next_wait(300, found=False) == 30
    assert policy.give_up_after == dt.timedelta(hours=1)
