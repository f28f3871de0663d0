"""Shopify webhook deliveries for tests: the documented sample payloads, signed as Shopify signs.

Headers and the signature follow Shopify's own test helper (``shopify-app-js``
``lib/webhooks/__tests__/utils.ts``): base64 HMAC-SHA256 of the raw body with the app secret.
"""

from __future__ import annotations

import copy
import itertools
import json
from functools import cache
from pathlib import Path
from typing import Any

from bot.integrations.shopify.verification import expected_signature
from bot.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "shpss_0123456789abcdef0123456789abcdef"
SHOP = "jsmith.myshopify.com"
PHONE = "+14155550123"
_ids = itertools.count(1)


@cache
def _sample(topic: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{topic.replace('/', '_')}.json").read_text())
    return data


def sample(topic: str) -> dict[str, Any]:
    """A fresh copy of Shopify's documented payload for ``topic``."""
    return copy.deepcopy(_sample(topic))


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "shopify_webhook_secret": SECRET,
        "shopify_shop_domain": SHOP,
        "public_base_url": "https://shop.example",
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_auth_token": "test-token",
        "twilio_from_number": "+14155550100",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def signed(
    payload: dict[str, Any] | bytes,
    topic: str,
    *,
    webhook_id: str | None = None,
    secret: str = SECRET,
) -> tuple[bytes, dict[str, str]]:
    """The body and Shopify's header set for one delivery."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": expected_signature(secret, body),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": webhook_id or f"b54557e4-bdd9-4b37-8a5f-{next(_ids):012d}",
        "X-Shopify-Triggered-At": "2026-11-02T12:00:00.000Z",
    }
    return body, headers


def order(
    lines: list[tuple[str, int]],
    *,
    shopify_id: int = 820982911946154508,
    name: str = "#9999",
    phone: str | None = PHONE,
    created_at: str = "2026-11-01T09:00:00-05:00",
    currency: str = "USD",
) -> dict[str, Any]:
    """The sample ``orders/create`` payload, made placeable: not cancelled (the sample is), with
    a customer phone (the sample has none), our lines (sample line items, our SKUs)."""
    data = sample("orders/create")
    items = data["line_items"]
    data.update(
        id=shopify_id,
        name=name,
        cancelled_at=None,
        cancel_reason=None,
        created_at=created_at,
        updated_at=created_at,
        currency=currency,
    )
    data["customer"]["phone"] = phone
    data["line_items"] = [
        {**items[i % len(items)], "id": 1000 + i, "sku": sku, "quantity": n, "current_quantity": n}
        for i, (sku, n) in enumerate(lines)
    ]
    return data


def fulfillment(
    order_id: int, lines: list[tuple[str, int]], fulfillment_id: int = 123456
) -> dict[str, Any]:
    data = sample("fulfillments/create")
    items = data["line_items"]
    data.update(id=fulfillment_id, order_id=order_id)
    data["line_items"] = [
        {**items[i % len(items)], "sku": sku, "quantity": n} for i, (sku, n) in enumerate(lines)
    ]
    return data
