"""GET /api/analytics/suppliers and /api/analytics/waiting: the known history's figures."""

import csv
import io

import httpx
import pytest

from store.db import Database
from tests.bot.web.test_api import api, api_settings  # noqa: F401 (fixtures)
from tests.store.analytics import history


@pytest.fixture
def shop(committed_db: Database) -> Database:
    with committed_db.session() as session:
        history.build(session)
    return committed_db


@pytest.mark.asyncio
async def test_the_scorecard_is_served_as_json(
    api: httpx.AsyncClient,  # noqa: F811
    shop: Database,
) -> None:
    response = await api.get("/api/analytics/suppliers")
    assert response.status_code == 200
    cards = {card["supplier"]: card for card in response.json()}
    assert cards["Acme"]["average_days_late"] == 4.5
    assert cards["Acme"]["receipts_history"][1]["first_promised"] == "2026-11-15"
    assert cards["Birch"]["pulled_in"] == 1


@pytest.mark.asyncio
async def test_the_waiting_figures_are_served_as_json_and_as_csv(
    api: httpx.AsyncClient,  # noqa: F811
    shop: Database,
) -> None:
    record = (await api.get("/api/analytics/waiting")).json()
    assert record["flow"]["allocation_to_shipment"]["max_seconds"] == 2 * 86_400
    assert record["revenue"]["by_sku"]["A"]["USD"]["amount_minor"]["waiting"] == 30_000
    response = await api.get("/api/analytics/waiting", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    kept = [
        r for r in rows if r["section"] == "revenue_by_supplier" and r["measure"] == "kept_minor"
    ]
    assert {(r["subject"], r["currency"], r["value"]) for r in kept} == {
        ("Acme", "USD", "40000"),
        ("Birch", "EUR", "11000"),
    }


@pytest.mark.asyncio
async def test_analytics_need_the_api_token_and_are_in_the_openapi(
    api: httpx.AsyncClient,  # noqa: F811
) -> None:
    bare = await api.get("/api/analytics/waiting", headers={"Authorization": "Bearer wrong"})
    assert bare.status_code == 401
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert "/api/analytics/suppliers" in paths
    assert "/api/analytics/waiting" in paths
    assert (await api.get("/api/analytics/waiting", params={"format": "xls"})).status_code == 422
