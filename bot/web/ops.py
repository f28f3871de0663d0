"""The operators' routes, ``GET /healthz`` and ``GET /metrics``, and the app's own metrics.

Each app owns its ``CollectorRegistry`` rather than using prometheus-client's global one, so
two apps in one process (tests, or a future admin app) never share or double-register series.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    ProcessCollector,
    generate_latest,
)
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.inbound import Handled
from store.db import Database

logger = logging.getLogger(__name__)

# Load balancers give up after a few seconds; a hung database must read as down, not as a hang.
HEALTH_TIMEOUT_SECONDS = 5.0


class WebMetrics:
    """The counters the web app exposes on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._webhooks = Counter(
            "backorder_bot_webhook_requests",
            "Webhook requests, by route and outcome.",
            ["route", "outcome"],
            registry=self.registry,
        )
        self._inbound = Counter(
            "backorder_bot_inbound_messages",
            "Customer messages handled, by channel and intent (duplicates: intent 'duplicate').",
            ["channel", "intent"],
            registry=self.registry,
        )
        self._replies = Counter(
            "backorder_bot_replies",
            "Answers given inline to customer messages, by channel and message template.",
            ["channel", "message"],
            registry=self.registry,
        )

    def inbound(self, channel: str, handled: Handled) -> None:
        """Count one customer message and the answer sent inline, if any."""
        if handled.reply is None:
            self._inbound.labels(channel=channel, intent="duplicate").inc()
            return
        self._inbound.labels(channel=channel, intent=handled.reply.intent.kind.value).inc()
        if handled.text_to_send is not None and handled.reply.message is not None:
            self._replies.labels(channel=channel, message=handled.reply.message).inc()

    def webhook(self, route: str, outcome: str) -> None:
        """Count one webhook request. ``route`` is the route's path, never a raw URL."""
        self._webhooks.labels(route=route, outcome=outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def router(db: Database, metrics: WebMetrics) -> APIRouter:
    """Build the operators' router around this app's database and metrics."""
    routes = APIRouter(include_in_schema=False)

    @routes.get("/healthz")
    async def healthz() -> JSONResponse:
        """200 when the database answers ``SELECT 1``, 503 otherwise."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                await asyncio.to_thread(_ping, db)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            # The type is enough to page on; driver messages can be long and repeat every probe.
            logger.warning("health check failed: database unavailable (%s)", type(exc).__name__)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @routes.get("/metrics")
    async def metrics_text() -> Response:
        """Prometheus text exposition of this app's registry."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return routes


def _ping(db: Database) -> None:
    with db.read_session() as session:
        session.execute(text("SELECT 1"))
