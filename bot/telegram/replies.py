"""Answers to Telegram updates, sent again when Telegram provably did not take them.

A handler's answer (the status a customer asked for, an agent's preview) is sent straight from
the handler, not through the outbox: it must arrive while the person is looking at the chat.
Without a second try, one refused connection or one 429 loses it for good: the update is
already marked handled, and nobody would ever answer it.

So a failed answer is classified the way the dispatcher classifies its own sends
(:func:`messaging.channels.telegram.to_send_error`), and:

- nothing was taken (the connection never opened, a 429, an error page from Telegram): sent
  again after Telegram's ``retry_after`` or a short backoff, up to :data:`ATTEMPTS` times within
  about :data:`MAX_WAIT` seconds;
- the request left and no answer came back (``outcome_unknown``): not sent again, since neither
  Telegram nor the Bot API offers an idempotency key and the person may already have it; the
  same rule as the outbox's ``unknown`` state;
- permanent (blocked bot, a malformed message): not sent again.

Anything given up is logged as an error with the update's id, never with the chat's.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from telegram.error import TelegramError

from messaging.channels.telegram import to_send_error

__all__ = ["ATTEMPTS", "MAX_WAIT", "deliver"]

logger = logging.getLogger(__name__)

ATTEMPTS = 4
# The longest single wait, and about the longest an answer may come late: past this the person
# has likely given up on the chat, and the handler's slot is needed for other updates.
MAX_WAIT = 30.0
_FIRST_BACKOFF = 0.5

Sleep = Callable[[float], Awaitable[object]]


async def deliver(
    send: Callable[[], Awaitable[object]],
    what: str,
    *,
    sleep: Sleep = asyncio.sleep,
) -> bool:
    """Run ``send`` (one Bot API call), again while Telegram provably did not take it.

    ``what`` names the answer in the log (e.g. ``"answer to update 17"``). True once sent;
    False when given up (logged), so a handler can go on with the rest of its work.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await send()
        except TelegramError as exc:
            failure = to_send_error(exc)
            if failure.outcome_unknown:
                logger.warning("%s may not have arrived (%s); not sent again", what, failure)
                return False
            wait = _wait(attempt, failure.retry_after)
            if failure.permanent or attempt == ATTEMPTS or wait > MAX_WAIT:
                logger.error("%s not sent after %d attempt(s): %s", what, attempt, failure)
                return False
            logger.warning("%s not taken (%s); trying again in %.1f s", what, failure, wait)
            await sleep(wait)
        else:
            return True
    return False  # not reached: the last attempt returns above


def _wait(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return retry_after
    step = _FIRST_BACKOFF * (1 << (attempt - 1))
    return step / 2 + step / 2 * random.random()  # noqa: S311 (jitter, not a secret)
