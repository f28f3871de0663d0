"""The ASGI app factory: every HTTP route of ``backorder-bot serve`` in one FastAPI app.

Nothing is read at import time and there is no module-level app: the entry point reads the
settings, opens the database and calls ``create_app``. Each area is one router module, built
around the objects it needs (``ops``, ``twilio_status``; later ``twilio_sms``, ``telegram``,
``api``, ``agent``). The caller owns the database and disposes of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from bot.settings import Settings
from bot.web import ops, twilio_status
from bot.web.twilio_signature import TwilioSignature
from store.db import Database

LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]
"""Something to run for the app's lifetime, e.g. the Telegram application or the dispatcher."""


def create_app(
    settings: Settings, db: Database, *, lifespan_hooks: Sequence[LifespanHook] = ()
) -> FastAPI:
    """Build the web app. Lifespan hooks are entered in order and exited in reverse."""
    hooks = tuple(lifespan_hooks)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for hook in hooks:
                await stack.enter_async_context(hook(app))
            yield

    app = FastAPI(title="backorder-bot", lifespan=lifespan)
    metrics = ops.WebMetrics()
    verify_twilio = TwilioSignature.from_settings(settings, metrics)
    app.include_router(ops.router(db, metrics))
    app.include_router(twilio_status.router(db, verify_twilio, metrics))
    return app
