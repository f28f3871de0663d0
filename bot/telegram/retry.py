"""Telegram updates whose handling failed: retried soon, given up once too old to act on.

Telegram does not resend an update it got 200 for, and the webhook acknowledges before handling
(``bot.web.telegram_webhook``); polling acknowledges by asking for the next ones. So a failed
update (the database was down, a bug raised) lives on only as its unhandled row in
``inbound_messages``, with the raw payload. While the bot runs, :func:`retrying_failed_updates`
makes a pass at once, then again after ``first_wait`` seconds, doubling while failed updates
keep turning up, at most ``max_wait`` apart; a pass with nothing to do resets the wait.

Each pass first gives up on updates older than ``give_up_after`` (one hour): acting on an old
"3" would cancel an order the customer may have long since settled another way. Those are
marked ``given_up`` (listed by ``backorder-bot inbound given-up``) and each is logged at WARNING,
naming the update and its age but never the text or the chat. Then it replays what is younger,
received at least ``replay_after`` ago (younger ones may still be in flight). A replay handled
twice is harmless: the claim in ``bot.inbound`` lets exactly one handling commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.inbound import Inbound

__all__ = ["RETRY", "RetryPolicy", "retry_pass", "retrying_failed_updates"]

logger = logging.getLogger(__name__)

TelegramApplication = Application[Any, Any, Any, Any, Any, Any]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When failed updates are replayed, and when they are given up on."""

    replay_after: dt.timedelta = dt.timedelta(seconds=60)
    give_up_after: dt.timedelta = dt.timedelta(hours=1)
    first_wait: float = 30.0
    max_wait: float = 300.0

    def next_wait(self, wait: float, found: bool) -> float:
        """Double while failures keep turning up (bounded); back to the first wait otherwise."""
        return min(wait * 2, self.max_wait) if found else self.first_wait


RETRY = RetryPolicy()


async def retry_pass(
    application: TelegramApplication, inbound: Inbound, policy: RetryPolicy
) -> int:
    """Give up on the too old, queue the rest again; how many were queued or given up."""
    given_up = await asyncio.to_thread(inbound.give_up_telegram_updates, policy.give_up_after)
    for item in given_up:
        logger.warning(
            "gave up on Telegram update %s: unhandled since %s (%s ago, limit %s); "
            "see `backorder-bot inbound given-up`",
            item.provider_id,
            item.received_at.isoformat(timespec="seconds"),
            _age((item.given_up_at or item.received_at) - item.received_at),
            _age(policy.give_up_after),
        )
    payloads = await asyncio.to_thread(
        inbound.unhandled_telegram_updates, policy.replay_after, policy.give_up_after
    )
    for payload in payloads:
        try:
            update = Update.de_json(payload, application.bot)
        except (TypeError, KeyError, ValueError):
            logger.warning("stored Telegram update no longer readable; skipped")
            continue
        await application.update_queue.put(update)
    if payloads:
        logger.info("replayed %d Telegram update(s) not handled yet", len(payloads))
    return len(payloads) + len(given_up)


@contextlib.asynccontextmanager
async def retrying_failed_updates(
    application: TelegramApplication,
    inbound: Inbound,
    policy: RetryPolicy | None = None,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[None]:
    """Run the passes in the background for the duration of the block (first pass before)."""
    chosen = policy or RETRY
    await _safe_pass(application, inbound, chosen)
    task = asyncio.create_task(_loop(application, inbound, chosen, sleep))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _loop(
    application: TelegramApplication,
    inbound: Inbound,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]],
) -> None:
    wait = policy.first_wait
    while True:
        await sleep(wait)
        found = await _safe_pass(application, inbound, policy)
        wait = policy.next_wait(wait, found)


async def _safe_pass(
    application: TelegramApplication, inbound: Inbound, policy: RetryPolicy
) -> bool:
    # A pass that fails (the database is still down) counts as finding failures: back off.
    try:
        return await retry_pass(application, inbound, policy) > 0
    except Exception:
        logger.exception("retrying failed Telegram updates failed; trying again later")
        return True


def _age(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"
