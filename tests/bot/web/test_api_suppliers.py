"""``/api/suppliers``: contacts set through the API, refused when bad, and the silent list."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from bot.settings import Settings
from bot.suppliers.asking import AskingConfig, ask_suppliers
from store.db import Database
from store.models import utcnow
from tests.bot.web.supplier_scenarios import owed_backorders
from tests.bot.web.test_api import PRODUCT, api, api_settings  # noqa: F401 - fixtures

pytestmark = pytest.mark.asyncio


async def test_a_contact_is_set_and_listed(api: httpx.AsyncClient) -> None:  # noqa: F811
    assert (await api.put("/api/products/OVEN-5", json=PRODUCT)).status_code == 200
    contact = {"email": "orders@acme.example", "locale": "es", "timezone": "Europe/Madrid"}
    put = await api.put("/api/suppliers/Acme Supply/contact", json=contact)
    assert put.status_code == 200, put.text
    assert put.json()["email"] == "orders@acme.example"
    listed = (await api.get("/api/suppliers")).json()
    assert [(s["name"], s["email"], s["locale"], s["timezone"]) for s in listed] == [
        ("Acme Supply", "orders@acme.example", "es", "Europe/Madrid")
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "acme at example"), ("timezone", "Europe/Atlantis"), ("locale", "fr")],
)
async def test_a_bad_field_is_a_422_naming_it_and_nothing_changes(
    api: httpx.AsyncClient,  # noqa: F811
    field: str,
    value: str,
) -> None:
    assert (await api.put("/api/products/OVEN-5", json=PRODUCT)).status_code == 200
    good = {"email": "orders@acme.example", "timezone": "UTC", "locale": "en"}
    assert (await api.put("/api/suppliers/Acme Supply/contact", json=good)).status_code == 200
    refused = await api.put("/api/suppliers/Acme Supply/contact", json={**good, field: value})
    assert refused.status_code == 422
    assert field in str(refused.json())
    [after] = (await api.get("/api/suppliers")).json()
    assert (after["email"], after["timezone"], after["locale"]) == (
        "orders@acme.example",
        "UTC",
        "en",
    )


async def test_an_unknown_supplier_is_404(api: httpx.AsyncClient) -> None:  # noqa: F811
    missing = await api.put("/api/suppliers/Nobody/contact", json={"email": "a@b.example"})
    assert missing.status_code == 404


async def test_suppliers_silent_after_the_reminder_are_listed(
    api: httpx.AsyncClient,  # noqa: F811
    committed_db: Database,
    api_settings: Settings,  # noqa: F811
) -> None:
    owed_backorders(committed_db)
    config = AskingConfig.from_settings(api_settings)
    now = utcnow()
    for days in (0, 3, 6):
        ask_suppliers(committed_db, config, now + dt.timedelta(days=days))
    silent = (await api.get("/api/suppliers/not-answering")).json()
    assert [(s["supplier"], s["skus"]) for s in silent] == [("Acme Supply", ["KETTLE"])]
