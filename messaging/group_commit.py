"""Group commit: many coroutines hand over small writes; one thread commits them together.

The dispatcher records "about to send" and "outcome" for every message, but a commit per
message caps throughput at a few thousand rows per second here. Writers await ``add``; items
that arrive while a write is in progress (or in the same event-loop turn) share the next call
of ``write`` (run in a thread, since SQLAlchemy is sync), and each awaiting coroutine resumes
only once its item is durable.

``linger`` trades a little latency for fewer transactions: a group stays open that long for
more items (or until ``max_items``). Items paced by a rate limiter arrive one at a time, so
without it each became a transaction of its own: at 1,000 sends/s that was most of the
dispatcher's CPU (thread hand-offs, BEGIN/COMMIT, statement setup). With ``linger=0`` an idle
committer writes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Sequence
from typing import Generic, TypeVar

from messaging.db_threads import in_db_thread

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """``write`` may return the items it accepted; ``add`` then tells each writer whether its
    item was among them (None from ``write`` means all were)."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], Collection[T] | None],
        *,
        max_items: int = 1000,
        linger: float = 0.0,
    ) -> None:
        self._write = write
        self._max_items = max_items
        self._linger = linger
        self._full: asyncio.Event | None = None
        self._hurry = False  # a flush is waiting: no group lingers meanwhile
        self._lingering = 0  # items queued that want their group to linger
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[bool]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: T) -> bool:
        """Queue ``item``; wait until its group is written; True if ``write`` accepted it."""
        return await self.submit(item)

    def submit(self, item: T, *, linger: bool = True) -> asyncio.Future[bool]:
        """Queue ``item`` without waiting: the future says what ``add`` would have.

        ``linger=False``: the item joins a group already open, but opens none that lingers.
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if linger:
            self._lingering += 1
        self._items.append(item)
        self._waiters.append(future)
        if self._full is not None and len(self._items) >= self._max_items:
            self._full.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_until_empty())
        return future

    async def _write_until_empty(self) -> None:
        try:
            # One turn of the loop lets the other coroutines scheduled now join this group.
            await asyncio.sleep(0)
            await self._gather_more()
            while self._items:
                items, waiters = self._items[: self._max_items], self._waiters[: self._max_items]
                del self._items[: self._max_items], self._waiters[: self._max_items]
                self._lingering = 0
                await self._write_group(items, waiters)
        finally:
            self._writer = None

    async def _gather_more(self) -> None:
        """Keep the group open for ``linger`` seconds, or until it is full."""
        if not self._lingering or self._linger <= 0 or self._hurry:
            return
        if len(self._items) >= self._max_items:
            return
        self._full = asyncio.Event()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._linger)
        finally:
            self._full = None

    async def _write_group(self, items: list[T], waiters: list[asyncio.Future[bool]]) -> None:
        try:
            accepted = await in_db_thread(self._write, items)
        except Exception as exc:  # handed to each writer, who decides what it means
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for item, waiter in zip(items, waiters, strict=True):
            if not waiter.done():
                waiter.set_result(accepted is None or item in accepted)

    async def flush(self) -> None:
        """Wait until everything queued so far has been written (a lingering group now)."""
        self._hurry = True
        try:
            while self._writer is not None:
                if self._full is not None:
                    self._full.set()
                await asyncio.shield(self._writer)
        finally:
            self._hurry = False

    async def close(self) -> None:
        await self.flush()
