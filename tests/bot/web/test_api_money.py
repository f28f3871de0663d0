"""``PUT /api/products/{sku}``: ``price`` in and out is a decimal string in the currency's own
units; ``price_minor`` is the integer the shop stores (JPY 0 decimals, KWD 3, USD 2)."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.web import create_app
from messaging.notifier import ShopVoice, notify_pending
from store.db import Database
from store.models import OutboxMessage
from tests.bot.web.conftest import client_for, twilio_settings
from tests.factories import NOW

API_TOKEN = "agent-token-for-tests-0123456789"


@pytest_asyncio.fixture
async def api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, committed_db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.chdir(tmp_path)
    app = create_app(twilio_settings(agent_api_token=API_TOKEN), committed_db)
    async with client_for(app) as c:
        c.headers.update({"Authorization": f"Bearer {API_TOKEN}"})
        yield c


def _product(price: str, currency: str, **more: Any) -> dict[str, Any]:
    return {
        "name": "Tea",
        "price": price,
        "category": "kitchen",
        "stock_on_hand": 1,
        "currency": currency,
        **more,
    }


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("price", "currency", "shown", "minor"),
    [
        ("1500", "JPY", "1500", 1500),
        ("12.5", "KWD", "12.500", 12_500),
        ("14.9", "USD", "14.90", 1490),
    ],
)
async def test_a_price_round_trips_in_its_currencys_units(
    api: httpx.AsyncClient, price: str, currency: str, shown: str, minor: int
) -> None:
    response = await api.put("/api/products/TEA", json=_product(price, currency))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["price"], body["price_minor"], body["currency"]) == (shown, minor, currency)
    again = await api.put("/api/products/TEA", json=_product(body["price"], currency))
    assert again.json()["price_minor"] == minor


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("price", "currency", "message"),
    [
        ("1500.5", "JPY", "JPY has no minor unit: 1500.5"),
        ("12.3456", "KWD", "KWD has 3 decimals at most: 12.3456"),
        ("1.234", "USD", "USD has 2 decimals at most: 1.234"),
    ],
)
async def test_decimals_the_currency_lacks_are_422_on_price(
    api: httpx.AsyncClient, price: str, currency: str, message: str
) -> None:
    response = await api.put("/api/products/TEA", json=_product(price, currency))
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert (problem["loc"], problem["msg"]) == (["body", "price"], message)


@pytest.mark.asyncio
async def test_an_alternative_in_another_currency_is_422(api: httpx.AsyncClient) -> None:
    assert (await api.put("/api/products/MUG", json=_product("14.90", "USD"))).status_code == 200
    response = await api.put(
        "/api/products/TEA", json=_product("1500", "JPY", alternatives=["MUG"])
    )
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "alternatives"]
    assert problem["msg"] == "alternative MUG is priced in USD, not JPY"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("currency", "price", "shown"), [("JPY", "1500", "(¥1,500)"), ("KWD", "12.5", "(KWD12.500)")]
)
async def test_a_price_put_through_the_api_is_texted_as_put(
    api: httpx.AsyncClient, committed_db: Database, currency: str, price: str, shown: str
) -> None:
    assert (await api.put("/api/products/ALT", json=_product(price, currency))).status_code == 200
    waiting = _product(price, currency, stock_on_hand=0, alternatives=["ALT"])
    assert (await api.put("/api/products/TEA", json=waiting)).status_code == 200
    order = {
        "number": "A-1",
        "placed_at": "2026-11-01T10:00:00+00:00",
        "customer": {"name": "Ada Lovelace", "phone": "+14155550101", "locale": "en"},
        "lines": [{"sku": "TEA", "quantity": 1}],
    }
    assert (await api.post("/api/orders", json=order)).status_code == 201
    with committed_db.session() as session:
        notify_pending(session, ShopVoice("Casa Test", "help@casa.test"), NOW)
        body = session.scalars(
            select(OutboxMessage.body).where(OutboxMessage.message == "backorder_notice")
        ).one()
    assert shown in body
