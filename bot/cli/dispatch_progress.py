"""How far a ``dispatch --once`` has got: sent, failed, left and the rate, while it drains.

A drain of a few messages says nothing until its summary. A longer one shows progress on
stderr (stdout keeps the one-line summary scripts read): on a terminal, one line redrawn in
place; anywhere else (a pipe, a log file, CI), a plain line every few seconds, without control
codes, so a log reads as a history.

"Left" is read from the outbox (due now and not finished: pending, claimed, sending), not
guessed, so it stays true when new events add messages or another worker takes some.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.text import Text
from sqlalchemy import func, or_, select

from messaging.dispatcher import DispatchStats
from store.db import Database
from store.models import OutboxMessage, OutboxStatus, utcnow

PROGRESS_AFTER = 20  # messages: fewer say nothing until the summary
TTY_INTERVAL = 0.5  # seconds between redraws on a terminal
PLAIN_INTERVAL = 5.0  # seconds between lines in a log
_FAILED = ("failed", "unknown")
_SENT_OR_FAILED = ("sent", *_FAILED)


def count_left(db: Database) -> int:
    """Messages due now that no one has finished yet."""
    o = OutboxMessage
    query = (
        select(func.count())
        .select_from(o)
        .where(
            or_(
                (o.status == OutboxStatus.PENDING) & (o.due_at <= utcnow()),
                o.status.in_([OutboxStatus.CLAIMED, OutboxStatus.SENDING]),
            )
        )
    )
    with db.read_session() as session:
        return int(session.scalar(query) or 0)


@dataclass(frozen=True, slots=True)
class Snapshot:
    sent: int
    failed: int
    held_back: int  # retry later, skipped (opted out), deferred (quiet hours), handed back
    left: int
    per_second: float

    def line(self) -> str:
        held = f", {self.held_back} held back" if self.held_back else ""
        return (
            f"dispatch: {self.sent} sent, {self.failed} failed{held}, {self.left} left, "
            f"{self.per_second:.1f}/s"
        )


def snapshot(stats: DispatchStats, left: int, elapsed: float) -> Snapshot:
    outcomes = stats.outcomes
    handled = sum(outcomes.values())
    sent, failed = outcomes["sent"], sum(outcomes[k] for k in _FAILED)
    done = sum(outcomes[k] for k in _SENT_OR_FAILED)
    return Snapshot(sent, failed, handled - done, left, done / elapsed if elapsed > 0 else 0.0)


async def watch(
    drain: Awaitable[DispatchStats],
    live: Callable[[], DispatchStats],
    left: Callable[[], int],
    console: Console,
) -> DispatchStats:
    """Run ``drain`` and show its progress on ``console`` when there is enough of it."""
    started = time.monotonic()
    task = asyncio.ensure_future(drain)
    due = await asyncio.to_thread(left)
    shown = False
    interval = TTY_INTERVAL if console.is_terminal else PLAIN_INTERVAL
    display = Live(console=console, auto_refresh=False) if console.is_terminal else None

    async def show() -> None:
        nonlocal shown
        stats = live()
        remaining = await asyncio.to_thread(left)
        if not shown and due + stats.notified <= PROGRESS_AFTER:
            return
        line = snapshot(stats, remaining, time.monotonic() - started).line()
        shown = True
        if display is not None:
            display.update(Text(line), refresh=True)
        else:
            console.print(line, highlight=False, markup=False)

    with display or contextlib.nullcontext():
        await show()
        while not task.done():
            await asyncio.wait([task], timeout=interval)
            if not task.done():
                await show()
        stats = task.result()
        if shown:  # the last word: where it ended
            remaining = await asyncio.to_thread(left)
            line = snapshot(stats, remaining, time.monotonic() - started).line()
            if display is not None:
                display.update(Text(line), refresh=True)
            else:
                console.print(line, highlight=False, markup=False)
    return stats
