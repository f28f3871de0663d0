"""Group commit: items submitted by many requests at once are run in batches, one at a time.

The webhook route answers each verified delivery once it is committed. Sixteen concurrent
deliveries used to be sixteen transactions queued on one lock (SQLite has one writer; on
PostgreSQL each commit is a round trip and a WAL flush), each on a thread of the event loop's
small default pool (``min(32, CPUs + 4)`` threads: 6 here). Here the requests wait on the event
loop instead: the items that arrived while a batch ran, up to ``max_batch``, are the next batch,
run by ``run_batch`` on a worker thread (one transaction); each request gets its own result
once its batch is done. Under no load a batch is one item and nothing waits; under load the
batches grow by themselves, and no request waits behind more than the batch before its own.

Nothing here knows about databases: ``run_batch`` returns one result (or the exception to raise
in that item's request) per item, in order. One instance serves one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    def __init__(
        self, run_batch: Callable[[Sequence[T]], Sequence[R | BaseException]], max_batch: int
    ) -> None:
        assert max_batch >= 1
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Run ``item`` in the next batch and return its result (or raise its exception)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        # Shielded: a client that hangs up does not cancel the batch its delivery is in.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._run(batch)
        finally:
            self._draining = None

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await asyncio.to_thread(self._run_batch, [item for item, _ in batch])
            assert len(results) == len(batch), "one result per item"
        except Exception as exc:  # the batch failed whole: every item hears it
            results = [exc] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
