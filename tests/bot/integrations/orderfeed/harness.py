"""Order feed requests for tests: events in the documented shape, signed as docs/ says."""

from __future__ import annotations

import importlib.util
import itertools
import json
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bot.settings import Settings

SECRET = "feed-secret-0123456789abcdef0123456789"
PHONE = "+14155550123"
DOCS = Path(__file__).resolve().parents[4] / "docs"
_ids = itertools.count(1)


def client_module() -> ModuleType:
    """docs/order_feed_client.py, the example client, loaded as it ships."""
    spec = importlib.util.spec_from_file_location(
        "order_feed_client", DOCS / "order_feed_client.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "order_feed_secret": SECRET,
        "public_base_url": "https://shop.example",
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_auth_token": "test-token",
        "twilio_from_number": "+14155550100",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def event_id() -> str:
    return f"evt-{next(_ids)}"


def order(
    number: str,
    lines: list[tuple[str, int]],
    *,
    occurred_at: str = "2026-11-02T10:00:00Z",
    phone: str | None = PHONE,
    currency: str = "USD",
    placed_at: str | None = "2026-11-02T09:59:00Z",
    id: str | None = None,
) -> dict[str, Any]:
    customer: dict[str, Any] = {"name": "Ada Lovelace", "locale": "en"}
    if phone is not None:
        customer["phone"] = phone
    body: dict[str, Any] = {
        "number": number,
        "currency": currency,
        "customer": customer,
        "lines": [{"sku": sku, "quantity": n} for sku, n in lines],
    }
    if placed_at is not None:
        body["placed_at"] = placed_at
    return {"id": id or event_id(), "type": "order", "occurred_at": occurred_at, "order": body}


def stock(sku: str, count: int, *, occurred_at: str = "2026-11-03T10:00:00Z") -> dict[str, Any]:
    return {
        "id": event_id(),
        "type": "stock",
        "occurred_at": occurred_at,
        "sku": sku,
        "count": count,
    }


def cancellation(
    number: str, *, skus: list[str] | None = None, occurred_at: str = "2026-11-03T11:00:00Z"
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": event_id(),
        "type": "cancellation",
        "occurred_at": occurred_at,
        "order_number": number,
    }
    if skus is not None:
        event["skus"] = skus
    return event


def shipment(number: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id(),
        "type": "shipment",
        "occurred_at": "2026-11-04T10:00:00Z",
        "order_number": number,
        **fields,
    }


def signed(
    events: list[dict[str, Any]] | bytes,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one request, signed with the example client's ``sign``."""
    body = events if isinstance(events, bytes) else json.dumps({"events": events}).encode()
    when = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "X-Feed-Timestamp": str(when),
        "X-Feed-Signature": client_module().sign(secret, when, body),
    }
    return body, headers
