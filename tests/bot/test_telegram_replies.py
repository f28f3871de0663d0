"""Which failed Telegram answers are sent again: only those Telegram provably did not take.

The failures are python-telegram-bot's own exceptions with the causes its HTTPX request gives
them (``telegram.request.HTTPXRequest`` raises ``TimedOut`` from ``httpx.ConnectTimeout`` when
the connection never opened, from ``httpx.ReadTimeout`` when the request left). End to end
against a fake Bot API: ``tests/bot/web/test_telegram_webhook.py``.
"""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError, TimedOut

from bot.telegram.replies import ATTEMPTS, MAX_WAIT, deliver
from messaging.channels.aiohttp_request import FloodControl

pytestmark = pytest.mark.asyncio


def caused(error: TelegramError, cause: BaseException) -> TelegramError:
    error.__cause__ = cause
    return error


class Send:
    """A Bot API call that fails with ``failures`` in turn, then succeeds."""

    def __init__(self, *failures: TelegramError) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return {"message_id": 1}


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def never_connected() -> TelegramError:
    return caused(TimedOut(), httpx.ConnectTimeout("connect"))


@pytest.mark.parametrize(
    "failure",
    [
        never_connected(),
        caused(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused")),
        caused(TimedOut("Pool timeout"), httpx.PoolTimeout("pool")),
        NetworkError("Bad Gateway"),  # PTB's error for a 502 page: Telegram took nothing
    ],
    ids=["connect-timeout", "connection-refused", "pool-timeout", "bad-gateway"],
)
async def test_an_answer_telegram_did_not_take_is_sent_again(failure: TelegramError) -> None:
    send, sleeps = Send(failure), Sleeps()
    assert await deliver(send, "answer to update 1", sleep=sleeps) is True
    assert send.calls == 2
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= 0.5


async def test_flood_control_waits_as_long_as_telegram_asks() -> None:
    send, sleeps = Send(FloodControl(dt.timedelta(seconds=3))), Sleeps()
    assert await deliver(send, "answer to update 2", sleep=sleeps) is True
    assert (send.calls, sleeps) == (2, [3.0])


async def test_backoff_grows_between_attempts() -> None:
    send, sleeps = Send(*(never_connected() for _ in range(ATTEMPTS - 1))), Sleeps()
    assert await deliver(send, "answer to update 3", sleep=sleeps) is True
    assert send.calls == ATTEMPTS
    assert sleeps == sorted(sleeps)
    assert sleeps[-1] > sleeps[0]
    assert sum(sleeps) < MAX_WAIT


@pytest.mark.parametrize(
    "failure",
    [
        caused(TimedOut(), httpx.ReadTimeout("read")),
        caused(NetworkError("httpx.RemoteProtocolError"), httpx.RemoteProtocolError("gone")),
    ],
    ids=["read-timeout", "connection-dropped-after-sending"],
)
async def test_an_answer_that_may_have_arrived_is_not_sent_twice(
    failure: TelegramError, caplog: pytest.LogCaptureFixture
) -> None:
    send, sleeps = Send(failure), Sleeps()
    assert await deliver(send, "answer to update 4", sleep=sleeps) is False
    assert (send.calls, sleeps) == (1, [])
    assert "answer to update 4 may not have arrived" in caplog.text


@pytest.mark.parametrize(
    "failure",
    [Forbidden("Forbidden: bot was blocked by the user"), BadRequest("Can't parse entities")],
    ids=["blocked", "bad-request"],
)
async def test_a_permanent_failure_is_logged_once_and_not_retried(
    failure: TelegramError, caplog: pytest.LogCaptureFixture
) -> None:
    send, sleeps = Send(failure), Sleeps()
    with caplog.at_level(logging.ERROR, logger="bot.telegram.replies"):
        assert await deliver(send, "answer to update 5", sleep=sleeps) is False
    assert (send.calls, sleeps) == (1, [])
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "answer to update 5 not sent after 1 attempt(s)" in caplog.text


async def test_it_gives_up_after_the_last_attempt(caplog: pytest.LogCaptureFixture) -> None:
    send, sleeps = Send(*(never_connected() for _ in range(ATTEMPTS))), Sleeps()
    assert await deliver(send, "answer to update 6", sleep=sleeps) is False
    assert send.calls == ATTEMPTS
    assert len(sleeps) == ATTEMPTS - 1
    assert f"answer to update 6 not sent after {ATTEMPTS} attempt(s)" in caplog.text


async def test_a_wait_longer_than_the_answer_is_worth_gives_up_at_once() -> None:
    send, sleeps = Send(FloodControl(dt.timedelta(seconds=MAX_WAIT + 1))), Sleeps()
    assert await deliver(send, "answer to update 7", sleep=sleeps) is False
    assert (send.calls, sleeps) == (1, [])
