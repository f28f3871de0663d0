"""``POST /webhooks/shopify``: Shopify's webhooks in, verified, applied once, answered fast.

Order of checks: no ``SHOPIFY_WEBHOOK_SECRET`` configured -> 503 saying so (nothing can be
verified); a body over ``MAX_BODY_BYTES`` -> 413; a missing or wrong ``X-Shopify-Hmac-Sha256``
-> 401; a shop other than ``SHOPIFY_SHOP_DOMAIN`` -> 401; no webhook id or topic -> 400. Nothing
is written before the signature is checked. A verified webhook is applied in one short
transaction (``ingest``; ``orders/create`` deliveries arriving together share one, each in its
own savepoints) and answered 200 whatever became of it (applied, a repeat, stale,
refused with a recorded reason), so Shopify does not retry what cannot change; only a database
failure answers 500, and Shopify's retry applies it later.

Headers: Shopify's webhook deliveries carry ``X-Shopify-*``; its newer event deliveries the
same names without the ``X-`` prefix (``shopify-app-js`` ``lib/types.ts``): both are read.
"""

# No ``from __future__ import annotations``: FastAPI reads the route's annotations.
import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError

from bot.integrations.shopify.ingest import Delivery, ShopifyIngest
from bot.integrations.shopify.verification import is_signed
from bot.web.bodies import read_capped
from bot.web.ops import WebMetrics

__all__ = ["MAX_BODY_BYTES", "PATH", "router"]

logger = logging.getLogger(__name__)

PATH = "/webhooks/shopify"
# A large order (hundreds of line items) is a few hundred KiB of JSON.
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_ID = 64


def _header(request: Request, name: str) -> str | None:
    value = request.headers.get(f"x-shopify-{name}") or request.headers.get(f"shopify-{name}")
    return value.strip() if value else None


def _payload(body: bytes) -> dict[str, object] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def router(
    ingest: ShopifyIngest,
    secret: SecretStr | None,
    shop_domain: str | None,
    metrics: WebMetrics,
) -> APIRouter:
    """Build the Shopify webhook router; ``secret`` None answers every request 503."""
    routes = APIRouter(include_in_schema=False)
    key = secret.get_secret_value() if secret is not None else None
    shop = shop_domain.strip().lower() if shop_domain else None

    def refuse(status: int, outcome: str, detail: str) -> Response:
        metrics.webhook(PATH, outcome)
        return JSONResponse({"detail": detail}, status_code=status)

    @routes.post(PATH)
    async def shopify_webhook(request: Request) -> Response:
        """Verify one webhook and apply it once; 200 for every verified delivery."""
        if key is None:
            return refuse(503, "unconfigured", "SHOPIFY_WEBHOOK_SECRET is not set")
        body = await read_capped(request, MAX_BODY_BYTES)
        if body is None:
            return refuse(413, "too_large", "body too large")
        if not is_signed(key, body, _header(request, "hmac-sha256")):
            return refuse(401, "forbidden", "invalid webhook signature")
        domain = _header(request, "shop-domain")
        if shop is not None and (domain or "").lower() != shop:
            return refuse(401, "forbidden", "webhook from another shop")
        webhook_id, topic = _header(request, "webhook-id"), _header(request, "topic")
        if not webhook_id or len(webhook_id) > MAX_ID or not topic:
            return refuse(400, "malformed", "missing webhook id or topic")
        delivery = Delivery(webhook_id, topic.lower(), domain, _payload(body))
        try:
            ingested = await ingest.handle_async(delivery)
        except SQLAlchemyError:
            logger.exception("Shopify webhook %s (%s) not applied", webhook_id, topic)
            return refuse(500, "error", "not applied; retry later")
        outcome = "duplicate" if ingested.duplicate else str(ingested.outcome)
        metrics.webhook(PATH, outcome)
        return JSONResponse({"outcome": outcome})

    return routes
