"""Group commit: many coroutines hand over small writes; one thread commits them together.

The dispatcher records "about to send" and "outcome" for every message, but a commit per
message caps throughput at a few thousand rows per second here. Writers await ``add``; items
that arrive within ``interval`` share one call of ``write`` (run in a thread, since SQLAlchemy
is sync), and each awaiting coroutine resumes only once its item is durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(
        self, write: Callable[[Sequence[T]], None], *, interval: float = 0.02, max_items: int = 500
    ) -> None:
        self._write = write
        self._interval = interval
        self._max_items = max_items
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def add(self, item: T) -> None:
        """Queue ``item`` and wait until the group holding it has been written."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._items.append(item)
        self._waiters.append(future)
        if len(self._items) >= self._max_items:
            await self.flush()
        elif self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_later())
        await future

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._interval)
        self._flusher = None
        await self.flush()

    async def flush(self) -> None:
        """Write whatever is queued now. A failed write is raised to each item's writer."""
        async with self._lock:
            items, waiters = self._items, self._waiters
            self._items, self._waiters = [], []
            if not items:
                return
            try:
                await asyncio.to_thread(self._write, items)
            except Exception as exc:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                return
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        await self.flush()
