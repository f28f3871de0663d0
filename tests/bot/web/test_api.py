"""The JSON API under /api: auth, validation, idempotency, and each endpoint's happy path."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.settings import Settings
from bot.web import create_app
from store.db import Database
from store.models import (
    AuditEntry,
    Broadcast,
    Customer,
    DomainEvent,
    EtaChange,
    Order,
    OutboxMessage,
    Product,
)
from tests.bot.web.conftest import client_for, twilio_settings

API_TOKEN = "agent-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}

PRODUCT = {
    "name": "Enamelled Dutch Oven 5 L",
    "price": "119.00",
    "category": "kitchen",
    "stock_on_hand": 1,
    "supplier": "Acme Supply",
}
ORDER = {
    "number": "A-1001",
    "placed_at": "2026-11-01T10:00:00+00:00",
    "customer": {"name": "Ada Lovelace", "phone": "+14155550101", "locale": "es-MX"},
    "lines": [{"sku": "OVEN-5", "quantity": 3}],
}


@pytest.fixture
def api_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Settings:
    monkeypatch.chdir(tmp_path)
    return twilio_settings(agent_api_token=API_TOKEN)


@pytest_asyncio.fixture
async def api(api_settings: Settings, committed_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(api_settings, committed_db)) as c:
        c.headers.update(AUTH)
        yield c


def _count(db: Database, model: type) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


async def _shop(api: httpx.AsyncClient) -> None:
    assert (await api.put("/api/products/OVEN-5", json=PRODUCT)).status_code == 200
    assert (await api.post("/api/orders", json=ORDER)).status_code == 201


# ---- auth ----


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_TOKEN}"}],
)
async def test_missing_or_wrong_token_is_401(
    api_settings: Settings, committed_db: Database, headers: dict[str, str]
) -> None:
    async with client_for(create_app(api_settings, committed_db)) as c:
        response = await c.get("/api/backorders", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.asyncio
async def test_a_refused_request_writes_nothing(
    api_settings: Settings, committed_db: Database
) -> None:
    async with client_for(create_app(api_settings, committed_db)) as c:
        response = await c.put("/api/products/OVEN-5", json=PRODUCT)
    assert response.status_code == 401
    assert _count(committed_db, Product) == 0


@pytest.mark.asyncio
async def test_without_a_configured_token_the_api_is_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, committed_db: Database
) -> None:
    monkeypatch.chdir(tmp_path)
    async with client_for(create_app(twilio_settings(), committed_db)) as c:
        response = await c.get("/api/backorders", headers={"Authorization": "Bearer "})
    assert response.status_code == 503
    assert "AGENT_API_TOKEN" in response.json()["detail"]


@pytest.mark.asyncio
async def test_openapi_lists_the_api_and_not_the_webhooks(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    paths = set(schema["paths"])
    assert {"/api/orders", "/api/broadcasts", "/api/broadcasts/{broadcast_id}/cancel"} <= paths
    assert not any(p.startswith("/webhooks") for p in paths)
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert (await api.get("/docs")).status_code == 200


# ---- products, orders ----


@pytest.mark.asyncio
async def test_put_product_creates_then_updates(api: httpx.AsyncClient) -> None:
    created = await api.put("/api/products/OVEN-5", json=PRODUCT)
    assert created.status_code == 200
    assert created.json()["price_minor"] == 11_900
    await api.put("/api/products/LID-1", json={**PRODUCT, "name": "Lid"})
    updated = await api.put(
        "/api/products/OVEN-5", json={**PRODUCT, "stock_on_hand": 7, "alternatives": ["LID-1"]}
    )
    assert updated.json()["stock_on_hand"] == 7
    assert updated.json()["alternatives"] == ["LID-1"]
    assert updated.json()["supplier"] == "Acme Supply"


@pytest.mark.asyncio
async def test_put_product_with_unknown_alternative_is_422_and_writes_nothing(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    response = await api.put("/api/products/OVEN-5", json={**PRODUCT, "alternatives": ["NOPE"]})
    assert response.status_code == 404
    assert "NOPE" in response.json()["detail"]
    assert _count(committed_db, Product) == 0


@pytest.mark.asyncio
async def test_validation_errors_name_each_field(api: httpx.AsyncClient) -> None:
    response = await api.put(
        "/api/products/OVEN-5", json={**PRODUCT, "price": "-1", "stock_on_hand": "many"}
    )
    assert response.status_code == 422
    fields = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert fields == {("body", "price"), ("body", "stock_on_hand")}


@pytest.mark.asyncio
async def test_post_order_shows_allocated_and_backordered(api: httpx.AsyncClient) -> None:
    await api.put("/api/products/OVEN-5", json=PRODUCT)
    response = await api.post("/api/orders", json=ORDER)
    assert response.status_code == 201
    (line,) = response.json()["lines"]
    assert (line["allocated"], line["backordered"], line["status"]) == (1, 2, "backordered")
    assert line["open_offer"] is not None


@pytest.mark.asyncio
async def test_the_same_order_again_is_200_with_the_same_order(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    await _shop(api)
    again = await api.post("/api/orders", json=ORDER)
    assert again.status_code == 200
    assert again.json()["number"] == "A-1001"
    assert _count(committed_db, Order) == 1


@pytest.mark.asyncio
async def test_the_same_number_with_other_lines_is_409(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    await _shop(api)
    other = {**ORDER, "lines": [{"sku": "OVEN-5", "quantity": 1}]}
    response = await api.post("/api/orders", json=other)
    assert response.status_code == 409
    assert _count(committed_db, Order) == 1


@pytest.mark.asyncio
async def test_an_order_for_an_unknown_sku_writes_no_customer(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    response = await api.post(
        "/api/orders", json={**ORDER, "lines": [{"sku": "NOPE", "quantity": 1}]}
    )
    assert response.status_code == 404
    assert _count(committed_db, Customer) == 0


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("customer", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"locale": "fr"}, "locale"),
        ({"timezone": "Mars/Base"}, "timezone"),
    ],
)
async def test_bad_customer_fields_are_422_at_their_place(
    api: httpx.AsyncClient, committed_db: Database, customer: dict[str, str], field: str
) -> None:
    body = {**ORDER, "customer": {**ORDER["customer"], **customer}}  # type: ignore[dict-item]
    response = await api.post("/api/orders", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "customer", field]
    assert _count(committed_db, Customer) == 0


@pytest.mark.asyncio
async def test_an_order_without_lines_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/orders", json={**ORDER, "lines": []})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "lines"]


@pytest.mark.asyncio
async def test_get_order(api: httpx.AsyncClient) -> None:
    await _shop(api)
    response = await api.get("/api/orders/A-1001")
    assert response.status_code == 200
    assert response.json()["lines"][0]["status"] == "backordered"
    assert (await api.get("/api/orders/NOPE")).status_code == 404


@pytest.mark.asyncio
async def test_post_eta_tells_the_waiting_lines(api: httpx.AsyncClient) -> None:
    await _shop(api)
    response = await api.post("/api/products/OVEN-5/eta", json={"eta": "2026-12-20"})
    assert response.status_code == 200
    assert response.json()["eta"] == "2026-12-20"
    bad = await api.post("/api/products/OVEN-5/eta", json={"eta": "20/12/2026"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "eta"]
    assert (await api.post("/api/products/NOPE/eta", json={"eta": "2026-12-20"})).status_code == 404


@pytest.mark.asyncio
async def test_stock_receipt_fills_the_waiting_order_once(api: httpx.AsyncClient) -> None:
    await _shop(api)
    body = {"sku": "OVEN-5", "quantity": 2, "reference": "DEL-1"}
    first = await api.post("/api/stock/receipts", json=body)
    assert first.status_code == 201
    assert first.json()["allocated"] == [{"order_number": "A-1001", "quantity": 2}]
    again = await api.post("/api/stock/receipts", json=body)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    bad = await api.post("/api/stock/receipts", json={"sku": "OVEN-5", "quantity": 0})
    assert bad.status_code == 422


@pytest.mark.asyncio
async def test_backorders_are_grouped_by_sku(api: httpx.AsyncClient) -> None:
    await _shop(api)
    groups = (await api.get("/api/backorders")).json()
    assert [g["sku"] for g in groups] == ["OVEN-5"]
    assert groups[0]["units_waiting"] == 2
    assert groups[0]["lines"][0]["order_number"] == "A-1001"


# ---- broadcasts ----

BROADCAST = {"filters": {"sku": "OVEN-5"}, "text": "Hola {{ first_name }}: {{ eta }}"}


@pytest.mark.asyncio
async def test_dry_run_answers_counts_and_samples_and_writes_nothing(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    await _shop(api)
    response = await api.post("/api/broadcasts", json={**BROADCAST, "dry_run": True})
    assert response.status_code == 200
    preview = response.json()
    assert preview["recipients"] == 1
    assert preview["by_channel"] == {"sms": 1}
    assert preview["skipped"] == {}
    assert preview["samples"][0]["text"].startswith("Our shop: Hola Ada")
    assert preview["sms_segments"] == 1
    assert _count(committed_db, Broadcast) == 0


@pytest.mark.asyncio
async def test_send_queues_once_and_a_repeat_returns_the_same_broadcast(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    await _shop(api)
    first = await api.post("/api/broadcasts", json=BROADCAST)
    assert first.status_code == 202
    broadcast_id = first.json()["id"]
    again = await api.post("/api/broadcasts", json=BROADCAST)
    assert again.status_code == 200
    assert again.json()["id"] == broadcast_id
    assert again.json()["created"] is False
    progress = (await api.get(f"/api/broadcasts/{broadcast_id}")).json()
    assert progress["status"] == "sending"
    assert progress["progress"]["queued"] == 1
    assert progress["progress"]["pending"] == 1
    with committed_db.read_session() as session:
        bodies = session.scalars(select(OutboxMessage.body)).all()
        actors = set(session.scalars(select(AuditEntry.actor)))
    assert len(bodies) == 1
    assert bodies[0].startswith("Our shop: Hola Ada: ")
    assert bodies[0].endswith("Responde STOP para darte de baja.")
    assert actors == {"api"}


@pytest.mark.asyncio
async def test_an_idempotency_key_header_is_honoured(api: httpx.AsyncClient) -> None:
    await _shop(api)
    headers = {"Idempotency-Key": "k-42"}
    first = await api.post("/api/broadcasts", json=BROADCAST, headers=headers)
    other = await api.post(
        "/api/broadcasts", json={**BROADCAST, "text": "Otro texto"}, headers=headers
    )
    assert first.status_code == 202
    assert other.status_code == 409


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"filters": {}, "text": "Hi {{ nombre }}"}, ["body", "text"]),
        ({"filters": {}, "template": "help"}, ["body", "template"]),
        ({"filters": {}}, ["body"]),
        ({"filters": {"channel": "fax"}, "text": "x"}, ["body", "filters", "channel"]),
        (
            {"filters": {"waiting_days_min": -1}, "text": "x"},
            ["body", "filters", "waiting_days_min"],
        ),
        ({"filters": {}, "text": "x", "send_at": "2026-12-01T09:00:00"}, ["body", "send_at"]),
        ({"filters": {}, "text": "x", "send_at": "2020-12-01T09:00:00Z"}, ["body", "send_at"]),
        (
            {"filters": {}, "text": "x", "translations": {"es": "Hola {{ nombre }}"}},
            ["body", "translations", "es"],
        ),
        (
            {"filters": {}, "text": "x", "translations": {"es": "x" * 1001}},
            ["body", "translations", "es"],
        ),
        ({"filters": {}, "text": "x", "translations": {"fr": "Salut"}}, ["body", "translations"]),
        (
            {"filters": {}, "template": "eta_changed", "translations": {"es": "Hola"}},
            ["body", "translations"],
        ),
    ],
)
async def test_bad_broadcasts_are_422_with_the_field(
    api: httpx.AsyncClient, committed_db: Database, body: dict[str, Any], loc: list[str]
) -> None:
    response = await api.post("/api/broadcasts", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
    assert _count(committed_db, Broadcast) == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("dry_run", [True, False])
@pytest.mark.parametrize(
    "text",
    ["{{ 'x' * 20000000 }}", "{% for i in range(10**9) %}{% endfor %}"],
    ids=["huge string", "huge range"],
)
async def test_a_costly_text_is_422_on_the_text(
    api: httpx.AsyncClient, committed_db: Database, text: str, dry_run: bool
) -> None:
    await _shop(api)
    body = {"filters": {"sku": "OVEN-5"}, "text": text, "dry_run": dry_run}
    response = await api.post("/api/broadcasts", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "text"]
    assert _count(committed_db, Broadcast) == 0


@pytest.mark.asyncio
async def test_the_dry_run_warns_about_a_many_segment_sms(api: httpx.AsyncClient) -> None:
    await _shop(api)
    text = "Hola {{ first_name }}. " + "This is a long note about your order. " * 20
    body = {"filters": {"sku": "OVEN-5"}, "text": text, "dry_run": True}
    preview = (await api.post("/api/broadcasts", json=body)).json()
    assert preview["sms_segments"] > 3
    assert f"{preview['sms_segments']} segments long" in preview["warnings"][0]


@pytest.mark.asyncio
async def test_each_customer_gets_the_text_in_their_language(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    await _shop(api)  # Ada speaks es-MX
    english = {
        **ORDER,
        "number": "A-1002",
        "customer": {"name": "Grace Hopper", "phone": "+14155550102", "locale": "en"},
    }
    assert (await api.post("/api/orders", json=english)).status_code == 201
    body = {
        "filters": {"sku": "OVEN-5"},
        "text": "Hi {{ first_name }}: {{ eta }}",
        "translations": {"es": "Hola {{ first_name }}: {{ eta }}"},
    }
    response = await api.post("/api/broadcasts", json=body)
    assert response.status_code == 202
    assert response.json()["translations"] == body["translations"]
    with committed_db.read_session() as session:
        bodies = dict(session.execute(select(OutboxMessage.locale, OutboxMessage.body)).all())
    assert bodies["es-MX"].startswith("Our shop: Hola Ada: ")
    assert bodies["en"].startswith("Our shop: Hi Grace: ")


@pytest.mark.asyncio
async def test_openapi_documents_the_translations(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    field = schema["components"]["schemas"]["BroadcastIn"]["properties"]["translations"]
    assert field["type"] == "object"
    assert "instead of text" in field["description"]


@pytest.mark.asyncio
async def test_cancel_a_broadcast(api: httpx.AsyncClient) -> None:
    await _shop(api)
    broadcast_id = (await api.post("/api/broadcasts", json=BROADCAST)).json()["id"]
    response = await api.post(f"/api/broadcasts/{broadcast_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["progress"]["skipped"] == 1
    assert (await api.post("/api/broadcasts/999/cancel")).status_code == 404
    assert (await api.get("/api/broadcasts/999")).status_code == 404


# ---- the stock model: the shop's count, idempotent ----


@pytest.mark.asyncio
async def test_a_retried_put_does_not_hand_the_same_units_out_twice(
    api: httpx.AsyncClient,
) -> None:
    await api.put("/api/products/OVEN-5", json={**PRODUCT, "stock_on_hand": 0})
    for i in range(6):
        order = {**ORDER, "number": f"A-{i}", "lines": [{"sku": "OVEN-5", "quantity": 1}]}
        assert (await api.post("/api/orders", json=order)).status_code == 201
    first = await api.put("/api/products/OVEN-5", json={**PRODUCT, "stock_on_hand": 3})
    again = await api.put("/api/products/OVEN-5", json={**PRODUCT, "stock_on_hand": 3})
    assert first.json() == again.json()
    assert (again.json()["stock_on_hand"], again.json()["reserved"]) == (3, 3)
    statuses = [
        (await api.get(f"/api/orders/A-{i}")).json()["lines"][0]["status"] for i in range(6)
    ]
    assert statuses.count("allocated") == 3


@pytest.mark.asyncio
async def test_a_count_below_the_reserved_units_is_422_and_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    await api.put("/api/products/OVEN-5", json={**PRODUCT, "stock_on_hand": 3})
    assert (await api.post("/api/orders", json=ORDER)).status_code == 201
    response = await api.put("/api/products/OVEN-5", json={**PRODUCT, "stock_on_hand": 1})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "stock_on_hand"]
    assert "3 units are reserved" in error["msg"]
    line = (await api.get("/api/orders/A-1001")).json()["lines"][0]
    assert line["status"] == "allocated"


@pytest.mark.asyncio
@pytest.mark.parametrize("date", ["2020-01-01", "0001-01-01", "2099-01-01"])
async def test_post_eta_refuses_a_past_or_absurd_date_with_422(
    api: httpx.AsyncClient, committed_db: Database, date: str
) -> None:
    await _shop(api)
    with committed_db.read_session() as session:
        before = session.scalar(select(func.count()).select_from(DomainEvent))
    response = await api.post("/api/products/OVEN-5/eta", json={"eta": date})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "eta"]
    assert date in problem["msg"]
    with committed_db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(DomainEvent)) == before
        assert session.scalar(select(func.count()).select_from(EtaChange)) == 0
