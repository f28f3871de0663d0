"""The dispatcher's own threads for database work.

``asyncio.to_thread`` uses the event loop's default executor, which ``serve`` shares with the
webhooks (every inbound message is handled in a thread there). Under inbound load the
dispatcher's claims and commits queued behind hundreds of webhook calls in that pool's six
threads, and it nearly stopped sending (measured: 8-16 broadcast messages sent in 6 s of
250 requests/s). Its own few threads keep it moving whatever the web side is doing.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["in_db_thread"]

P = ParamSpec("P")
R = TypeVar("R")

# Claims, notifications and the two group commits can overlap: four are enough, and more
# would only queue on the database's own locks.
MAX_THREADS = 4
_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="dispatcher-db")
        return _executor


async def in_db_thread(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``function`` in the dispatcher's threads and wait for it."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), functools.partial(function, *args, **kwargs))
