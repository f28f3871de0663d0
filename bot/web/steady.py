"""The web process's own pauses, taken out of its requests (issue 16: the webhooks' tail).

Traced on the webhook benchmark (``bench_webhooks.py --trace``), the slowest requests were not
slow to compute; they waited on something the whole process was doing:

* **a full garbage collection**: after start-up the process holds about 208,000 objects
  (FastAPI, pydantic, SQLAlchemy, python-telegram-bot, the templates), and each generation-2
  collection walked them all: 135 ms of CPU on an idle core, 420-1,100 ms measured on a
  loaded one, with every request in flight stopped. :func:`gc.freeze` after start-up moves
  them out of the collector's sight (they live as long as the process anyway): a full
  collection then walks only what was made since (0.01 ms right after start-up; with the
  loaded benchmark's backlog of requests in flight, 890 ms in a run instead of 2,100-3,800 ms);
* **a WAL checkpoint inside a commit** on SQLite, holding the write turn: see
  ``store.wal_checkpoint``; :meth:`store.db.Database.checkpoints_in_background` runs them on a
  thread of their own.

:func:`steady_lifespan` is a lifespan hook for ``create_app``; ``serve`` gives it last, so that
everything the other hooks build at start-up (the Telegram application, the dispatcher) is
frozen with the rest.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from store.db import Database

__all__ = ["steady_lifespan"]


def steady_lifespan(db: Database) -> Callable[[object], AbstractAsyncContextManager[None]]:
    """A lifespan hook: background WAL checkpoints for ``db``, and the start-up heap frozen."""

    @asynccontextmanager
    async def hook(_app: object) -> AsyncIterator[None]:
        with db.checkpoints_in_background():
            gc.collect()  # what start-up left as garbage is freed, not frozen
            gc.freeze()
            try:
                yield
            finally:
                gc.unfreeze()  # a process that serves again (tests) starts from scratch

    return hook
