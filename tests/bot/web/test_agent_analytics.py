"""``/agent/analytics``: the known history's figures as text, SVG charts that need no script,
and the CSV links, for signed-in agents only."""

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from bot.settings import Settings
from bot.web.app import create_app
from store.agents import add_agent
from store.db import Database
from store.models import utcnow
from tests.bot.web.conftest import twilio_settings
from tests.bot.web.test_agent_dashboard import PASSWORD, client_for, sign_in
from tests.store.analytics import history

pytestmark = pytest.mark.asyncio


@pytest.fixture
def shop(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    monkeypatch.chdir(tmp_path)
    with committed_db.session() as session:
        add_agent(session, "ada", PASSWORD, now=utcnow())
        history.build(session)
    return committed_db


@pytest.fixture
def settings() -> Settings:
    return twilio_settings(order_link_secret="analytics-tests-order-link-secret")


@pytest_asyncio.fixture
async def client(settings: Settings, shop: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(settings, shop)) as c:
        yield c


async def test_the_page_shows_the_figures_and_svg_charts_without_script(
    client: httpx.AsyncClient,
) -> None:
    assert (await sign_in(client)).status_code == 303
    page = await client.get("/agent/analytics")
    assert page.status_code == 200
    html = page.text
    assert "<script" not in html
    assert html.count("<svg") == 4  # histogram, cancel rate, weekly USD, weekly EUR
    titles = re.findall(r'<title id="[^"]+">([^<]+)</title>', html)
    assert "Cancel rate by how long customers had waited" in titles
    assert "Revenue kept and lost per week, USD" in titles
    assert "100% (1 of 1)" in html  # 7-14d: A3 cancelled
    assert "USD: kept 400.00, lost 100.00, still waiting 300.00" in html
    assert "10.0 d" in html  # median backorder -> allocation
    assert 'href="/agent/analytics/waiting.csv"' in html
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


async def test_the_csv_links_carry_the_same_figures(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    waiting = await client.get("/agent/analytics/waiting.csv")
    assert waiting.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(waiting.text)))
    assert {"section": "revenue_total", "subject": "all", "currency": "EUR",
            "measure": "kept_minor", "value": "11000"} in rows  # fmt: skip
    suppliers = list(csv.DictReader(io.StringIO((await client.get(
        "/agent/analytics/suppliers.csv")).text)))  # fmt: skip
    value = {(r["subject"], r["measure"]): r["value"] for r in suppliers}
    assert value[("Acme", "average_days_late")] == "4.5"
    assert value[("Birch", "on_first_date_share")] == "1.0"


@pytest.mark.parametrize(
    "path", ["/agent/analytics", "/agent/analytics/waiting.csv", "/agent/analytics/suppliers.csv"]
)
async def test_analytics_need_a_signed_in_agent(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/agent/login"
    assert "Acme" not in response.text
