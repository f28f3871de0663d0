"""The operators' routes, /healthz and /metrics, and the app's lifespan hooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from bot.settings import Settings
from bot.web import LifespanHook, create_app
from store.db import Database

from .conftest import STATUS_PATH, PostStatus, client_for

pytestmark = pytest.mark.asyncio


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_healthz_answers_503_when_the_database_is_unreachable(
    settings: Settings, tmp_path: Path
) -> None:
    broken = Database(f"sqlite:///{tmp_path}")  # a folder: every connection fails
    try:
        async with client_for(create_app(settings, broken)) as client:
            response = await client.get("/healthz")
    finally:
        broken.dispose()
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def _webhook_counts(text: str) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["route"], sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "backorder_bot_webhook_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


async def test_metrics_count_webhook_requests_by_route_and_outcome(
    client: httpx.AsyncClient, post_status: PostStatus, sent_sid: str
) -> None:
    await post_status([("MessageSid", sent_sid), ("MessageStatus", "delivered")])
    await post_status([("MessageSid", sent_sid), ("MessageStatus", "delivered")])
    await client.post(STATUS_PATH, content=b"MessageSid=x")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert _webhook_counts(response.text) == {
        (STATUS_PATH, "applied"): 1.0,
        (STATUS_PATH, "unchanged"): 1.0,
        (STATUS_PATH, "forbidden"): 1.0,
    }


async def test_each_app_has_its_own_metrics(
    settings: Settings, committed_db: Database, post_status: PostStatus, sent_sid: str
) -> None:
    await post_status([("MessageSid", sent_sid), ("MessageStatus", "delivered")])
    async with client_for(create_app(settings, committed_db)) as fresh:
        response = await fresh.get("/metrics")
    assert _webhook_counts(response.text) == {}


async def test_lifespan_hooks_run_in_order_and_unwind_in_reverse(
    settings: Settings, committed_db: Database
) -> None:
    calls: list[str] = []

    def hook(name: str) -> LifespanHook:
        @asynccontextmanager
        async def run(app: FastAPI) -> AsyncIterator[None]:
            calls.append(f"start {name}")
            yield
            calls.append(f"stop {name}")

        return run

    app = create_app(settings, committed_db, lifespan_hooks=[hook("telegram"), hook("dispatch")])
    async with app.router.lifespan_context(app):
        assert calls == ["start telegram", "start dispatch"]
    assert calls[2:] == ["stop dispatch", "stop telegram"]
