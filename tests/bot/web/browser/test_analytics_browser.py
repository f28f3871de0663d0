"""The analytics page in a real browser, at 1280 px and on a 390 px phone: every chart is drawn
without script (the CSP forbids inline code and the page loads none), each SVG has its title,
its bars carry their figures as text, and nothing scrolls sideways on the phone. Screenshots
go to the artifacts folder (copies are in docs/screenshots/analytics-*.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store.agents import add_agent
from store.db import Database
from store.models import utcnow
from tests.bot.web.browser.conftest import CHROMIUM, browser_or_skip
from tests.store.analytics import history

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def _seed(db: Database) -> None:
    with db.session() as session:
        add_agent(session, "ada", PASSWORD, now=utcnow())
        history.build(session)


def _sign_in(page: Any, base: str) -> None:
    page.goto(base + "/agent")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Backorders").wait_for()


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 900, "desktop"), (390, 844, "phone")])
def test_the_analytics_page_draws_its_charts_without_script(
    live_server: str,
    committed_db: Database,
    artifacts: Path,
    width: int,
    height: int,
    name: str,
) -> None:
    sync_api = browser_or_skip()
    expect = sync_api.expect
    _seed(committed_db)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, java_script_enabled=False
            )
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)
            context_js = browser.new_context(viewport={"width": width, "height": height})
            signed = context_js.new_page()
            _sign_in(signed, live_server)
            context.add_cookies(context_js.cookies())  # the same session, with scripts off
            page.goto(live_server + "/agent/analytics")
            expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
            charts = page.locator("svg.chart")
            expect(charts).to_have_count(4)
            expect(page.get_by_role("img", name="Cancel rate by how long")).to_be_visible()
            expect(charts.nth(1)).to_contain_text("100% (1 of 1)")
            expect(page.locator("table").first).to_contain_text("Acme")
            for i in range(4):
                box = charts.nth(i).bounding_box()
                assert box is not None
                assert box["width"] > 100, f"chart {i} is drawn {box['width']} px wide"
                assert box["x"] + box["width"] <= width + 1, f"chart {i} overflows the window"
            page.screenshot(path=str(artifacts / f"analytics-{name}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, "the analytics page scrolls sideways"
            assert problems == []
        finally:
            browser.close()
