"""``POST /api/orders/{number}/shipments`` and the shipments in ``GET /api/orders/{number}``."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.settings import Settings
from bot.web import create_app
from store.db import Database
from store.models import Shipment
from tests.bot.web.conftest import client_for, twilio_settings

API_TOKEN = "agent-token-for-tests-0123456789"
PRODUCT = {
    "name": "Enamelled Dutch Oven 5 L",
    "price": "119.00",
    "category": "kitchen",
    "stock_on_hand": 2,
    "supplier": "Acme Supply",
}
ORDER = {
    "number": "A-1001",
    "customer": {"name": "Ada Lovelace", "phone": "+14155550101"},
    "lines": [{"sku": "OVEN-5", "quantity": 3}],  # 2 reserved, 1 on backorder
}
SHIPMENTS = "/api/orders/A-1001/shipments"
TRACKING = {"carrier": "UPS", "tracking": "1Z999", "tracking_url": "https://ups.example/t/1Z999"}


@pytest_asyncio.fixture
async def api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, committed_db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.chdir(tmp_path)
    settings: Settings = twilio_settings(agent_api_token=API_TOKEN)
    async with client_for(create_app(settings, committed_db)) as c:
        c.headers.update({"Authorization": f"Bearer {API_TOKEN}"})
        assert (await c.put("/api/products/OVEN-5", json=PRODUCT)).status_code == 200
        assert (await c.post("/api/orders", json=ORDER)).status_code == 201
        yield c


def _shipments(db: Database) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Shipment)) or 0


@pytest.mark.asyncio
async def test_shipping_answers_201_and_the_order_shows_the_shipment(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post(SHIPMENTS, json=TRACKING)
    assert response.status_code == 201, response.text
    shipped = response.json()
    assert shipped["lines"] == [{"sku": "OVEN-5", "quantity": 2}]
    assert shipped["tracking_url"] == TRACKING["tracking_url"]
    assert shipped["order"] == {"number": "A-1001", "status": "open"}  # one unit still waits
    order = (await api.get("/api/orders/A-1001")).json()
    assert [s["id"] for s in order["shipments"]] == [shipped["id"]]
    assert order["shipments"][0]["carrier"] == "UPS"
    assert order["lines"][0]["shipped"] == 2


@pytest.mark.asyncio
async def test_shipping_more_than_is_reserved_is_422_and_writes_nothing(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    response = await api.post(SHIPMENTS, json={"sku": "OVEN-5", "quantity": 3})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "quantity"]
    assert "only 2 units" in problem["msg"]
    assert _shipments(committed_db) == 0


@pytest.mark.asyncio
async def test_a_tracking_link_that_is_not_http_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post(SHIPMENTS, json={"tracking_url": "javascript:alert(1)"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "tracking_url"]


@pytest.mark.asyncio
async def test_an_unknown_order_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/orders/NOPE/shipments", json={})).status_code == 404


@pytest.mark.asyncio
async def test_nothing_left_to_ship_is_422_on_the_number(api: httpx.AsyncClient) -> None:
    assert (await api.post(SHIPMENTS)).status_code == 201  # no body: the whole order
    response = await api.post(SHIPMENTS)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "number"]


@pytest.mark.asyncio
async def test_a_retried_post_with_the_same_idempotency_key_ships_once(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    body = {"sku": "OVEN-5", "quantity": 1, **TRACKING}
    headers = {"Idempotency-Key": "ship-A-1001-1"}
    first = await api.post(SHIPMENTS, json=body, headers=headers)
    again = await api.post(SHIPMENTS, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert _shipments(committed_db) == 1
    order = (await api.get("/api/orders/A-1001")).json()
    assert order["lines"][0]["shipped"] == 1
    other = await api.post(SHIPMENTS, json={**body, "quantity": 2}, headers=headers)
    assert other.status_code == 409
