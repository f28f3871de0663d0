"""The dashboard's suppliers page: contacts edited (CSRF-checked, refused when bad) and the
suppliers not answering, on that page and on the board."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import select

from bot.settings import Settings
from bot.suppliers.asking import AskingConfig, ask_suppliers
from store.db import Database
from store.models import Supplier, utcnow
from tests.bot.web.test_agent_dashboard import (  # noqa: F401 - fixtures
    client,
    dashboard_settings,
    shop,
    signed_in,
    token,
)

pytestmark = pytest.mark.asyncio


def _contact(db: Database, name: str) -> tuple[str | None, str, str]:
    with db.read_session() as session:
        s = session.scalars(select(Supplier).where(Supplier.name == name)).one()
        return s.email, s.locale, s.timezone


async def test_an_agent_sets_a_suppliers_contact(
    signed_in: httpx.AsyncClient,  # noqa: F811
    shop: Database,  # noqa: F811
) -> None:
    page = await signed_in.get("/agent/suppliers")
    assert page.status_code == 200
    assert "Acme Supply" in page.text
    form = {
        "csrf": await token(signed_in),
        "name": "Acme Supply",
        "email": "orders@acme.example",
        "locale": "es",
        "timezone": "Europe/Madrid",
    }
    saved = await signed_in.post("/agent/suppliers/contact", data=form)
    assert saved.status_code == 303
    assert _contact(shop, "Acme Supply") == ("orders@acme.example", "es", "Europe/Madrid")
    shown = await signed_in.get(saved.headers["location"])
    assert "Contact of Acme Supply saved." in shown.text


async def test_a_bad_zone_is_shown_and_nothing_is_written(
    signed_in: httpx.AsyncClient,  # noqa: F811
    shop: Database,  # noqa: F811
) -> None:
    form = {
        "csrf": await token(signed_in),
        "name": "Acme Supply",
        "email": "orders@acme.example",
        "locale": "en",
        "timezone": "Mars/Olympus",
    }
    refused = await signed_in.post("/agent/suppliers/contact", data=form)
    assert refused.status_code == 422
    assert "Not saved: time zone &#39;Mars/Olympus&#39;" in refused.text
    assert _contact(shop, "Acme Supply") == (None, "en", "UTC")


async def test_a_post_without_csrf_is_refused(
    signed_in: httpx.AsyncClient,  # noqa: F811
    shop: Database,  # noqa: F811
) -> None:
    form = {"name": "Acme Supply", "email": "orders@acme.example"}
    # The form is kept and the agent sent back to it (see test_dashboard_fixes); nothing saved.
    response = await signed_in.post("/agent/suppliers/contact", data=form)
    assert response.status_code == 303
    assert "done=" not in response.headers["location"]
    assert _contact(shop, "Acme Supply")[0] is None


async def test_a_supplier_silent_after_the_reminder_is_on_the_board(
    signed_in: httpx.AsyncClient,  # noqa: F811
    shop: Database,  # noqa: F811
    dashboard_settings: Settings,  # noqa: F811
) -> None:
    with shop.session() as session:
        kettle = session.scalars(select(Supplier).where(Supplier.name == "Kettle Co")).one()
        kettle.email = "sales@kettle.example"
    config = AskingConfig.from_settings(dashboard_settings)
    now = utcnow()
    assert "Suppliers not answering" not in (await signed_in.get("/agent")).text
    for days in (0, 3, 6):
        ask_suppliers(shop, config, now + dt.timedelta(days=days))
    board = await signed_in.get("/agent")
    assert "Suppliers not answering" in board.text
    assert "<strong>Kettle Co</strong> (sales@kettle.example)" in board.text
    assert "KETTLE" in board.text
