"""The web process's pauses kept out of its requests (``bot.web.steady``), as ``serve`` runs it."""

from __future__ import annotations

import gc

import pytest
from fastapi import FastAPI

from bot.cli.serving import _config
from bot.settings import Settings
from bot.web import create_app
from bot.web.steady import steady_lifespan
from store.db import Database, is_sqlite
from store.wal_checkpoint import BACKSTOP_PAGES

pytestmark = pytest.mark.asyncio


def _autocheckpoint(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


async def test_the_start_up_heap_is_frozen_while_the_app_serves_and_thawed_after(
    settings: Settings, committed_db: Database
) -> None:
    app = create_app(settings, committed_db, lifespan_hooks=[steady_lifespan(committed_db)])
    async with app.router.lifespan_context(app):
        # A full collection no longer walks the objects start-up made (the 135 ms pause).
        assert gc.get_freeze_count() > 10_000
        if is_sqlite(committed_db.engine):  # commits leave checkpoints to the thread
            assert _autocheckpoint(committed_db) == BACKSTOP_PAGES
    assert gc.get_freeze_count() == 0


async def test_serve_runs_the_app_with_the_steady_hook(
    settings: Settings, committed_db: Database
) -> None:
    """Fails when ``serve`` leaves ``steady_lifespan`` out of its hooks."""
    config = _config(settings, committed_db, "127.0.0.1", 0, dispatch=False)
    app = config.app
    assert isinstance(app, FastAPI)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
