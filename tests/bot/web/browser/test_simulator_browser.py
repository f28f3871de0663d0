"""The customer simulator in a real browser: link a Telegram chat, ask, press Switch, and see the
confirmation the dispatcher delivers, all through the real webhooks in sandbox mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from store.db import Database
from store.models import LineStatus, Order, utcnow
from tests import factories as f
from tests.bot.web.browser.conftest import CHROMIUM, browser_or_skip

pytestmark = pytest.mark.browser


def test_a_telegram_conversation_in_the_simulator(
    sandbox_server: str, committed_db: Database, artifacts: Path
) -> None:
    sync_api = browser_or_skip()
    with committed_db.session() as session:
        f.product(session, "MUG-ALT", stock=10, category="mugs")
        f.product(session, "MUG", category="mugs", alternatives=("MUG-ALT",))
        ada = f.customer(session, phone="+14155550177")
        f.order(session, "A1001", [("MUG", 1)], who=ada, placed_at=utcnow())
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)
            page.goto(sandbox_server + "/simulator")
            telegram = page.locator("section.telegram")
            telegram.get_by_role("button", name="Open the link from the order confirmation").click()
            sync_api.expect(telegram.locator(".thread")).to_contain_text("linked to your orders")
            telegram.get_by_role("textbox").fill("where is my order?")
            telegram.get_by_role("button", name="Send").click()
            sync_api.expect(telegram.locator(".thread")).to_contain_text("A1001")
            telegram.locator(".buttons button", has_text="Switch").first.click()
            # The confirmation comes from the outbox, through the dispatcher's sandbox channel.
            sync_api.expect(telegram.locator(".thread .button")).to_contain_text("Switch")
            sync_api.expect(telegram.locator(".thread")).to_contain_text(
                "now has Product MUG-ALT", timeout=15_000
            )
            page.screenshot(path=str(artifacts / "simulator.png"), full_page=True)
            assert problems == []
        finally:
            browser.close()
    with committed_db.read_session() as session:
        order = session.scalars(select(Order).where(Order.number == "A1001")).one()
        assert {line.status for line in order.lines} == {LineStatus.SWITCHED, LineStatus.ALLOCATED}
