"""The write-back jobs worked inside ``backorder-bot serve``, beside the dispatcher.

A background task polls for due jobs (``WriteBack.run_due``) every ``poll_s`` seconds. The
Admin API client is synchronous (its throttle waits sleep), so each batch runs in a thread and
the event loop serving webhooks never waits on Shopify. Stopping lets the batch in flight
finish (a job half-sent would only be sent again after its lease, but there is no need to),
then closes the client. Batches are small so a stop is not held up long.

With several ``serve`` processes on one database each may run this loop: a job is claimed by
one conditional update (``store.shopify_jobs.claim_due``), so no job runs twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from bot.integrations.shopify.admin_client import AdminClient
from bot.integrations.shopify.connect import admin_client
from bot.integrations.shopify.writeback import WriteBack
from bot.settings import Settings
from store.db import Database

__all__ = ["BATCH", "POLL_S", "WriteBackLoop", "shopify_configured", "writeback_lifespan"]

logger = logging.getLogger(__name__)
POLL_S = 5.0
BATCH = 10


def shopify_configured(settings: Settings) -> bool:
    """Write-back needs the shop and its Admin API token; without them there is nothing to do."""
    return bool(settings.shopify_shop_domain and settings.shopify_admin_token)


class WriteBackLoop:
    """Works due jobs until stopped."""

    def __init__(self, worker: WriteBack, *, poll_s: float = POLL_S, batch: int = BATCH) -> None:
        self._worker = worker
        self._poll_s = poll_s
        self._batch = batch
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                summary = await asyncio.to_thread(self._worker.run_due, self._batch)
            except Exception:
                # The database away for a moment: log, wait, try again; never die silently.
                logger.exception("Shopify write-back batch failed; retrying")
                summary = None
            if summary is not None and summary.worked >= self._batch:
                continue  # more may be due: no pause between full batches
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._poll_s)


@contextlib.asynccontextmanager
async def running_writeback(
    db: Database, client: AdminClient, *, poll_s: float = POLL_S
) -> AsyncIterator[WriteBackLoop]:
    loop = WriteBackLoop(WriteBack(db, client), poll_s=poll_s)
    task = asyncio.create_task(loop.run(), name="shopify-writeback")
    try:
        yield loop
    finally:
        loop.stop()
        await task
        client.close()


def writeback_lifespan(
    settings: Settings, db: Database
) -> Callable[[object], AbstractAsyncContextManager[None]]:
    """The loop as a lifespan hook of the web app (``create_app(lifespan_hooks=...)``)."""

    @contextlib.asynccontextmanager
    async def hook(_app: object) -> AsyncIterator[None]:
        async with running_writeback(db, admin_client(settings)):
            yield

    return hook
