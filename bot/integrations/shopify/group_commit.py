"""Group commit: items handed in by many threads at once are run in batches, one batch at a time.

The webhook route hands each verified delivery to a worker thread (``asyncio.to_thread``) and
answers when it is committed. Sixteen concurrent deliveries used to be sixteen transactions
queued on one lock (SQLite has one writer; on PostgreSQL each commit is a round trip and a WAL
flush). Here the first thread to arrive becomes the leader and runs every item waiting, up to
``max_batch``, through ``run_batch`` (one transaction); the others wait for their own result,
which is only handed out once the batch committed. When the leader's batch is done and more
items arrived meanwhile, it passes the lead to the oldest waiting thread, so no request waits
behind more than the batch before its own.

Nothing here knows about databases: ``run_batch`` returns one result (or the exception to raise
in that item's thread) per item, in order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("done", "error", "item", "lead", "result")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = threading.Event()
        self.lead = False  # woken to lead the next batch rather than with a result
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    def __init__(
        self, run_batch: Callable[[Sequence[T]], Sequence[R | BaseException]], max_batch: int
    ) -> None:
        assert max_batch >= 1
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Slot[T, R]] = []
        self._leading = False

    def submit(self, item: T) -> R:
        """Run ``item`` in the next batch and return its result (or raise its exception)."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            lead = not self._leading
            self._leading = True
        while not lead:
            slot.done.wait()
            if not slot.lead:
                return _outcome(slot)
            slot.lead, lead = False, True
            slot.done.clear()
        self._lead()
        return _outcome(slot)

    def _lead(self) -> None:
        with self._lock:
            batch, self._waiting = (
                self._waiting[: self._max_batch],
                self._waiting[self._max_batch :],
            )
        try:
            results = self._run_batch([slot.item for slot in batch])
            assert len(results) == len(batch), "one result per item"
        except BaseException as exc:  # the batch failed whole: every item hears it
            results = [exc] * len(batch)
        for slot, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                slot.error = result
            else:
                slot.result = result
        with self._lock:
            if self._waiting:
                successor = self._waiting[0]
                successor.lead = True
                successor.done.set()
            else:
                self._leading = False
        for slot in batch:
            slot.done.set()


def _outcome(slot: _Slot[T, R]) -> R:
    if slot.error is not None:
        raise slot.error
    return slot.result  # type: ignore[return-value]
