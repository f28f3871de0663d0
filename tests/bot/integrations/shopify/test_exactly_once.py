"""The same Shopify webhook delivered 5 times at once is applied once.

Five real servers (uvicorn, each on its own socket, each app with its own ``Database``, all on
the test database) get one delivery each from five threads released together. Separate
``Database`` objects matter on SQLite: one object makes its threads take turns (its write
lock), which would hide a race; five compete in SQLite's own lock (and on PostgreSQL, with
``TEST_DATABASE_URL``, on the unique index), as separate processes would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.web import create_app
from bot.web.threaded import serving_in_thread
from store.db import Database
from store.models import DomainEvent, Order, OrderLine, ShopifyWebhook
from tests import factories as f
from tests.bot.integrations.shopify import harness as h

COPIES = 5


def test_the_same_webhook_five_times_at_once_is_applied_once(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with committed_db.session() as session:
        f.product(session, "TEA", stock=1, eta=dt.date(2026, 12, 1))
    body, headers = h.signed(h.order([("TEA", 2)]), "orders/create")
    databases = [Database(committed_db.url) for _ in range(COPIES)]
    barrier = threading.Barrier(COPIES)
    answers: list[httpx.Response] = []

    def post(url: str) -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            answers.append(client.post(url + "/webhooks/shopify", content=body, headers=headers))

    with contextlib.ExitStack() as stack:
        urls = []
        for db in databases:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            stack.callback(sock.close)
            app = create_app(h.settings(), db)
            urls.append(stack.enter_context(serving_in_thread(app, sock, lifespan="off")))
        threads = [threading.Thread(target=post, args=(url,)) for url in urls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    for db in databases:
        db.dispose()

    assert [a.status_code for a in answers] == [200] * COPIES
    assert sorted(a.json()["outcome"] for a in answers) == ["duplicate"] * 4 + ["handled"]
    with committed_db.read_session() as session:
        for model in (ShopifyWebhook, Order, DomainEvent):
            assert session.scalar(select(func.count()).select_from(model)) == 1
        line = session.scalars(select(OrderLine)).one()
        assert (line.allocated_quantity, line.backordered_quantity) == (1, 1)
