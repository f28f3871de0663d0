"""The same feed event delivered 5 times at once, by 5 separate processes, is applied once.

Each process builds its own app and ``Database`` on the test database (SQLite file, or
PostgreSQL with ``TEST_DATABASE_URL``) and posts the same signed request once all five are
ready. Processes, not threads: on SQLite one ``Database`` makes its threads take turns, which
would hide a race; here they compete in the database itself (SQLite's write lock, PostgreSQL's
unique index).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.web import create_app
from store.db import Database
from store.models import DomainEvent, Offer, Order, OrderLine
from store.tables_orderfeed import FeedEvent
from tests import factories as f
from tests.bot.integrations.orderfeed import harness as h

COPIES = 5


def _deliver(url: str, body: bytes, headers: dict[str, str], ready: Any, answers: Any) -> None:
    """One process: its own app and database; posts when all five are ready."""
    os.chdir(os.environ.get("FEED_TEST_DIR", "."))
    db = Database(url)
    app = create_app(h.settings(), db)

    async def post() -> tuple[int, str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            await asyncio.to_thread(ready.wait)
            answer = await client.post("/webhooks/orders", content=body, headers=headers)
        outcome = answer.json()["results"][0]["outcome"] if answer.status_code == 200 else ""
        return answer.status_code, outcome

    try:
        answers.put(asyncio.run(post()))
    finally:
        db.dispose()


def test_the_same_event_five_times_at_once_is_applied_once(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEED_TEST_DIR", str(tmp_path))
    with committed_db.session() as session:
        f.product(session, "TEA", stock=1, eta=dt.date(2026, 12, 20))
    body, headers = h.signed([h.order("W-1", [("TEA", 2)])])
    spawn = multiprocessing.get_context("spawn")
    ready, answers = spawn.Barrier(COPIES), spawn.Queue()
    workers = [
        spawn.Process(target=_deliver, args=(committed_db.url, body, headers, ready, answers))
        for _ in range(COPIES)
    ]
    for worker in workers:
        worker.start()
    results = [answers.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    assert sorted(results) == [(200, "applied")] + [(200, "duplicate")] * (COPIES - 1)
    with committed_db.read_session() as session:
        for model in (FeedEvent, Order, OrderLine, Offer, DomainEvent):
            assert session.scalar(select(func.count()).select_from(model)) == 1, model
        line = session.scalars(select(OrderLine)).one()
        assert (line.allocated_quantity, line.backordered_quantity) == (1, 1)
