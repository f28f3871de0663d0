"""Schemathesis against the app's own OpenAPI for ``/api``, plus hand-written hostile requests.

Every ``/api`` operation of ``/openapi.json`` is called with generated requests (valid and
invalid ones), bearer token set, on the test database: no answer may be a 5xx, and every
documented answer must match its schema. ``API_FUZZ_EXAMPLES`` sets the examples per operation
(default 30, a bounded CI run). Then the cases a generator rarely reaches: malformed and huge
bodies, wrong content types, NUL and odd Unicode in path and body fields, numbers past what a
database column holds: a 4xx, never a 5xx, and nothing half written.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import func, select

from bot.web import create_app
from store.db import Database
from store.models import (
    AuditEntry,
    Broadcast,
    Customer,
    DomainEvent,
    Order,
    OutboxMessage,
    Product,
    StockReceipt,
)
from tests.bot.web.conftest import client_for, twilio_settings

API_TOKEN = "agent-token-for-fuzzing-0123456789"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "30"))
WRITTEN = (
    Product,
    Customer,
    Order,
    OutboxMessage,
    Broadcast,
    AuditEntry,
    StockReceipt,
    DomainEvent,
)


@pytest.fixture
def api_app(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FastAPI:
    monkeypatch.chdir(tmp_path)  # no stray .env
    return create_app(twilio_settings(agent_api_token=API_TOKEN), committed_db)


# Every operation of /api, as the schema names it; the first test checks this list is complete.
OPERATIONS = [
    "PUT /api/products/{sku}",
    "POST /api/products/{sku}/eta",
    "POST /api/orders",
    "GET /api/orders/{number}",
    "POST /api/orders/{number}/shipments",
    "POST /api/stock/receipts",
    "GET /api/backorders",
    "GET /api/refunds",
    "POST /api/refunds/{refund_id}/settle",
    "POST /api/broadcasts",
    "GET /api/broadcasts/{broadcast_id}",
    "POST /api/broadcasts/{broadcast_id}/cancel",
    "GET /api/customers",
    "GET /api/customers/{customer_id}",
    "GET /api/customers/{customer_id}/messages",
    "POST /api/customers/{customer_id}/offers/{offer_id}/choice",
    "POST /api/customers/{customer_id}/lines/{line_id}/cancel",
    "POST /api/customers/{customer_id}/lines/{line_id}/ship",
    "POST /api/customers/{customer_id}/orders/{number}/link/revoke",
    "POST /api/customers/{customer_id}/orders/{number}/link/resend",
    "POST /api/customers/{customer_id}/outbox/{outbox_id}/retry",
    "GET /api/outbox",
    "GET /api/audit",
    "GET /api/analytics/suppliers",
    "GET /api/analytics/waiting",
    "POST /api/customers/{customer_id}/messages",
    "GET /api/inbox",
    "POST /api/inbox/{item_id}/close",
    "POST /api/inbox/{item_id}/assign",
    "GET /api/suppliers",
    "PUT /api/suppliers/{name}/contact",
    "GET /api/suppliers/not-answering",
]


@pytest.fixture
def api_schema(api_app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", api_app).include(path_regex="^/api/")


def test_the_fuzzed_operations_are_all_of_the_api(api_schema: Any) -> None:
    labels = {result.ok().label for result in api_schema.get_all_operations()}
    assert labels == set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("label", OPERATIONS)
def test_api_conforms_to_its_openapi(api_schema: Any, label: str, mode: GenerationMode) -> None:
    """Generated requests (valid ones, then invalid ones): no 5xx, answers as documented."""
    method, path = label.split(" ")
    operation = api_schema[path][method]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers=AUTH, checks=[not_a_server_error, response_schema_conformance]
        )

    call()


# --- hand-written hostile requests --------------------------------------------------------------


@pytest_asyncio.fixture
async def api(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(api_app) as client:
        client.headers.update(AUTH)
        yield client


def counts(db: Database) -> dict[str, int]:
    with db.read_session() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in WRITTEN
        }


PRODUCT = {"name": "Mug", "price": "9.50", "category": "mugs", "stock_on_hand": 0}
ORDER = {
    "number": "F-1",
    "customer": {"name": "Ada", "phone": "+14155550101"},
    "lines": [{"sku": "MUG", "quantity": 1}],
}
JSON = {"content-type": "application/json"}
BIG = 2**63  # one past what a BIGINT (or SQLite's INTEGER) holds
HUGE = 10**40

# (method, path, body bytes, headers)
HOSTILE: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("PUT", "/api/products/MUG", b'{"name": "Mug", "price": ', JSON),
    ("POST", "/api/orders", b"\xff\xfe not json at all", JSON),
    ("POST", "/api/orders", b"[]", JSON),
    ("POST", "/api/orders", b"null", JSON),
    ("POST", "/api/orders", b'"a string"', JSON),
    ("POST", "/api/orders", json.dumps(ORDER).encode(), {"content-type": "text/plain"}),
    (
        "POST",
        "/api/orders",
        json.dumps(ORDER).encode(),
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    ("POST", "/api/stock/receipts", b"sku=MUG&quantity=1", {"content-type": "multipart/form-data"}),
    ("POST", "/api/broadcasts", b"{" * 100_000, JSON),
    ("POST", "/api/broadcasts", b"[" * 5_000 + b"]" * 5_000, JSON),
    ("POST", "/api/orders", b'{"number": "' + b"A" * 2_000_000 + b'"}', JSON),
    ("PUT", "/api/products/MU%00G", json.dumps(PRODUCT).encode(), JSON),
    ("PUT", "/api/products/MUG", json.dumps({**PRODUCT, "name": "M\x00ug"}).encode(), JSON),
    ("PUT", "/api/products/MUG", json.dumps({**PRODUCT, "category": "\ud800"}).encode(), JSON),
    ("PUT", "/api/products/MUG", json.dumps({**PRODUCT, "stock_on_hand": BIG}).encode(), JSON),
    ("PUT", "/api/products/MUG", json.dumps({**PRODUCT, "stock_on_hand": HUGE}).encode(), JSON),
    ("PUT", "/api/products/MUG", json.dumps({**PRODUCT, "price": "1e400"}).encode(), JSON),
    ("PUT", "/api/products/MUG", json.dumps({**PRODUCT, "price": "NaN"}).encode(), JSON),
    ("PUT", "/api/products/MUG", json.dumps({**PRODUCT, "alternatives": ["\x00"]}).encode(), JSON),
    ("POST", "/api/products/MUG/eta", b'{"eta": "9999-99-99"}', JSON),
    ("POST", "/api/products/M%00UG/eta", b'{"eta": "2030-01-01"}', JSON),
    ("POST", "/api/orders", json.dumps({**ORDER, "number": "F\x00-1"}).encode(), JSON),
    (
        "POST",
        "/api/orders",
        json.dumps({**ORDER, "lines": [{"sku": "M\x00UG", "quantity": 1}]}).encode(),
        JSON,
    ),
    (
        "POST",
        "/api/orders",
        json.dumps({**ORDER, "lines": [{"sku": "MUG", "quantity": BIG}]}).encode(),
        JSON,
    ),
    (
        "POST",
        "/api/orders",
        json.dumps(
            {**ORDER, "customer": {"name": "A\x00da", "phone": "+1415\x005550101"}}
        ).encode(),
        JSON,
    ),
    (
        "POST",
        "/api/orders",
        json.dumps(
            {**ORDER, "customer": {"name": "Ada", "phone": "+14155550101", "timezone": "\x00"}}
        ).encode(),
        JSON,
    ),
    ("GET", "/api/orders/F%00-1", b"", {}),
    ("GET", "/api/orders/%C3%28", b"", {}),
    ("GET", "/api/backorders?sku=%00", b"", {}),
    ("POST", "/api/stock/receipts", json.dumps({"sku": "MUG", "quantity": BIG}).encode(), JSON),
    ("POST", "/api/stock/receipts", json.dumps({"sku": "M\x00UG", "quantity": 1}).encode(), JSON),
    (
        "POST",
        "/api/stock/receipts",
        json.dumps({"sku": "MUG", "quantity": 1, "reference": "r\x00"}).encode(),
        JSON,
    ),
    ("GET", f"/api/broadcasts/{BIG}", b"", {}),
    ("POST", f"/api/broadcasts/{HUGE}/cancel", b"", {}),
    (
        "POST",
        "/api/broadcasts",
        json.dumps({"text": "hi", "dry_run": True, "filters": {"waiting_days_min": BIG}}).encode(),
        JSON,
    ),
    (
        "POST",
        "/api/broadcasts",
        json.dumps({"text": "hi", "filters": {"sku": "\x00", "locale": "\x00"}}).encode(),
        JSON,
    ),
    ("POST", "/api/broadcasts", json.dumps({"text": "{{ name", "dry_run": True}).encode(), JSON),
]


def case_id(value: object) -> str:
    return repr(value)[:50]


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path", "body", "headers"), HOSTILE, ids=case_id)
async def test_hostile_requests_never_get_a_5xx_and_a_refusal_writes_nothing(
    api: httpx.AsyncClient,
    committed_db: Database,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
) -> None:
    before = counts(committed_db)
    response = await api.request(method, path, content=body or None, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 300:
        assert counts(committed_db) == before
    refused = (
        (method != "GET" and (not body.startswith(b"{") or headers != JSON))  # not a JSON object
        or "%00" in path
        or b"\\u0000" in body  # NUL anywhere
        or str(BIG) in path
        or str(BIG).encode() in body  # past what the column holds
        or str(HUGE) in path
        or str(HUGE).encode() in body
    )
    if refused:
        assert response.status_code >= 400, response.text[:300]
    json.loads(response.content or b"null")  # every answer is JSON, even one echoing a surrogate


# --- regressions: what the fuzzing found (each was a 500) -----------------------------------------


@pytest.mark.asyncio
async def test_a_validation_error_echoing_a_lone_surrogate_is_422(api: httpx.AsyncClient) -> None:
    body = b'{"name": "Mug", "price": "1.00", "category": "\\ud800", "stock_on_hand": 0}'
    response = await api.put("/api/products/MUG", content=body, headers=JSON)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "category"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("GET", "/api/orders/A%00", None, ["path", "number"]),
        ("GET", "/api/backorders?sku=%00", None, ["query", "sku"]),
        ("PUT", "/api/products/MUG", {**PRODUCT, "name": "M\x00ug"}, ["body", "name"]),
        (
            "POST",
            "/api/orders",
            {**ORDER, "lines": [{"sku": "\x00", "quantity": 1}]},
            ["body", "lines", 0, "sku"],
        ),
    ],
    ids=["path", "query", "body", "nested"],
)
async def test_a_nul_character_is_422_at_its_place_on_both_databases(
    api: httpx.AsyncClient,
    committed_db: Database,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    loc: list[str | int],
) -> None:
    response = await api.request(method, path, json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
    assert not any(counts(committed_db).values())


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("PUT", "/api/products/MUG", {**PRODUCT, "stock_on_hand": 2**31}, "stock_on_hand"),
        ("POST", "/api/stock/receipts", {"sku": "MUG", "quantity": 2**31}, "quantity"),
        ("GET", f"/api/broadcasts/{2**31}", None, "broadcast_id"),
        ("POST", f"/api/broadcasts/{2**31}/cancel", None, "broadcast_id"),
        (
            "POST",
            "/api/broadcasts",
            {"text": "hi", "dry_run": True, "filters": {"waiting_days_min": 10**6}},
            "waiting_days_min",
        ),
    ],
    ids=["stock", "receipt", "get-broadcast", "cancel-broadcast", "waiting-days"],
)
async def test_numbers_past_what_a_column_holds_are_422(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None, loc: str
) -> None:
    response = await api.request(method, path, json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == loc


@pytest.mark.asyncio
async def test_a_value_the_database_refuses_is_422_and_writes_nothing(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    # 99,999,999.99 fits the model (12 digits) but not price_cents, an INTEGER on PostgreSQL.
    response = await api.put("/api/products/MUG", json={**PRODUCT, "price": "99999999.99"})
    if committed_db.engine.dialect.name == "postgresql":
        assert response.status_code == 422
        assert not any(counts(committed_db).values())
    else:
        assert response.status_code == 200  # SQLite's INTEGER holds 64 bits
