"""``POST /webhooks/orders``: the signed order feed in, verified, each event applied once.

Order of checks: no ``ORDER_FEED_SECRET`` configured -> 503 saying so; a body over
``MAX_BODY_BYTES`` -> 413; a missing or wrong signature, or a timestamp outside the replay
window -> 401; a body that is not a batch of events with ids -> 400. Nothing is written before
all of these pass. Then each event is applied in its own short transaction (``ingest``), and
the answer is 200 with one result per event, in order: ``applied``, ``duplicate`` (that id was
already handled), ``stale`` or ``refused`` (with the reason, also recorded). A sender retries
only on a 5xx or a network error: only a database failure answers 500, and the events already
applied answer ``duplicate`` on the retry.
"""

# No ``from __future__ import annotations``: FastAPI reads the route's annotations.
import asyncio
import logging
import time
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError

from bot.integrations.orderfeed import signing
from bot.integrations.orderfeed.ingest import FeedIngest
from bot.integrations.orderfeed.shape import BadBatch, read_batch
from bot.web.bodies import read_capped
from bot.web.ops import WebMetrics

__all__ = ["MAX_BODY_BYTES", "PATH", "router"]

logger = logging.getLogger(__name__)

PATH = "/webhooks/orders"
# 100 events of large orders (hundreds of lines each) fit.
MAX_BODY_BYTES = 4 * 1024 * 1024


def router(
    ingest: FeedIngest,
    secret: SecretStr | None,
    metrics: WebMetrics,
    *,
    window_s: int = 300,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """Build the feed's router; ``secret`` None answers every request 503."""
    routes = APIRouter(include_in_schema=False)
    key = secret.get_secret_value() if secret is not None else None

    def refuse(status: int, outcome: str, detail: str) -> Response:
        metrics.webhook(PATH, outcome)
        return JSONResponse({"detail": detail}, status_code=status)

    @routes.post(PATH)
    async def order_feed(request: Request) -> Response:
        """Verify one batch of events and apply each once; 200 with what became of each."""
        if key is None:
            return refuse(503, "unconfigured", "ORDER_FEED_SECRET is not set")
        body = await read_capped(request, MAX_BODY_BYTES)
        if body is None:
            return refuse(413, "too_large", f"body over {MAX_BODY_BYTES} bytes")
        problem = signing.check(
            key,
            body,
            request.headers.get("x-feed-timestamp"),
            request.headers.get("x-feed-signature"),
            now=clock(),
            window_s=window_s,
        )
        if problem is not None:
            return refuse(401, "forbidden", problem)
        try:
            events = read_batch(body)
        except BadBatch as exc:
            return refuse(400, "malformed", str(exc))
        results = []
        try:
            for raw in events:
                results.append(await asyncio.to_thread(ingest.handle, raw))
        except SQLAlchemyError:
            logger.exception("order feed batch not applied whole")
            return refuse(500, "error", "not all applied; retry later (applied ones are kept)")
        for result in results:
            metrics.webhook(PATH, result.outcome)
        return JSONResponse({"results": [r.model_dump() for r in results]})

    return routes
