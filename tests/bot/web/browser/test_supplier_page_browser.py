"""The supplier page in headless Chromium: open the link from the queued e-mail, give a date,
send, and see it saved; no horizontal scrolling on a phone; screenshots at 1280 and 390 px.

With ``SAVE_DOC_SCREENSHOTS=1`` the first view is also written to ``docs/screenshots/``
(``supplier-page-1280.png``, ``supplier-page-390.png``).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.settings import Settings
from store.db import Database
from store.models import EtaChange, Product, utcnow
from tests.bot.web.browser.conftest import CHROMIUM, browser_or_skip
from tests.bot.web.supplier_scenarios import ask, owed_backorders

pytestmark = pytest.mark.browser

DOCS = Path(__file__).parents[4] / "docs" / "screenshots"


def _seed(db: Database, settings: Settings) -> str:
    owed_backorders(db, skus=("KETTLE-1L", "TEAPOT-CAST"), locales=("en", "es", "en"))
    with db.session() as session:
        teapot = session.scalars(select(Product).where(Product.sku == "TEAPOT-CAST")).one()
        teapot.name = "Cast-iron teapot, 0.8 l"
        teapot.eta = (utcnow() - dt.timedelta(days=2)).date()  # a date that passed
        kettle = session.scalars(select(Product).where(Product.sku == "KETTLE-1L")).one()
        kettle.name = "Stainless kettle, 1 l"
    asked = ask(db, settings)
    return settings.order_page_base_url + asked.path


@pytest.mark.parametrize("width", [1280, 390])
def test_a_supplier_gives_a_date_in_the_browser(
    width: int,
    live_server: str,
    committed_db: Database,
    live_settings: Settings,
    artifacts: Path,
) -> None:
    sync_api = browser_or_skip()
    url = _seed(committed_db, live_settings)
    assert url.startswith(live_server + "/s/")
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
            page.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "response",
                lambda r: (
                    problems.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            page.goto(url)
            sync_api.expect(page.get_by_text("Stainless kettle, 1 l")).to_be_visible()
            sync_api.expect(page.get_by_text("3 units waiting; oldest order 5 days old.").first)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{overflow}px of horizontal scrolling at {width}px"
            shot = {"path": str(artifacts / f"supplier-page-{width}.png"), "full_page": True}
            page.screenshot(**shot)
            if os.environ.get("SAVE_DOC_SCREENSHOTS"):
                page.screenshot(path=str(DOCS / f"supplier-page-{width}.png"), full_page=True)

            kettle = page.locator("fieldset", has_text="KETTLE-1L")
            kettle.get_by_label("New date:").check()
            eta = (utcnow() + dt.timedelta(days=14)).date()
            kettle.locator("input[type=date]").fill(eta.isoformat())
            page.get_by_role("button", name="Send the dates").click()
            sync_api.expect(page.get_by_text("your dates are saved")).to_be_visible()
            assert page.url.endswith("?done=saved")
        finally:
            browser.close()
    assert problems == [], "CSP violations or failed loads"
    with committed_db.read_session() as session:
        change = session.scalars(select(EtaChange)).one()
    assert (change.new_eta, change.source) == (eta, "supplier")
