"""The agents' dashboard in a real browser, against ``serve`` in sandbox mode with the dispatcher:
sign in, open the SKU with the most waiting customers, move its date, compose a broadcast, see
the preview, confirm, and watch progress reach 100% through the sandbox SMS channel. A
screenshot of each page goes to the artifacts folder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from messaging.channels.sandbox import read_sandbox_log
from store.agents import add_agent
from store.db import Database
from store.models import Broadcast, Offer, OfferChoice, Product, utcnow
from store.offers import accept_offer
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.bot.web.browser.conftest import CHROMIUM, browser_or_skip

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def test_an_agent_broadcasts_to_a_skus_customers_from_the_browser(
    sandbox_server: str, committed_db: Database, artifacts: Path, sandbox_log: Path
) -> None:
    sync_api = browser_or_skip()
    expect = sync_api.expect
    with committed_db.session() as session:
        add_agent(session, "ada", PASSWORD, now=utcnow())
        f.product(session, "KETTLE", supplier="Kettle Co")
        f.product(session, "OVEN", supplier="Acme Supply")
        names = ("Grace Hopper", "Alan Turing", "Edsger Dijkstra")
        for i, name in enumerate(names):
            f.order(session, f"A{i}", [("OVEN", 1)], who=f.customer(session, name))
        f.order(session, "B1", [("KETTLE", 1)])
        offer = session.scalars(select(Offer).order_by(Offer.id.desc())).first()
        assert offer is not None  # the KETTLE customer chose to wait: one bar in the chart
        accept_offer(
            session,
            offer.id,
            OfferChoice.WAIT,
            via="sms",
            now=f.NOW + dt.timedelta(hours=1),
            policy=DEFAULT_POLICY,
        )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)

            page.goto(sandbox_server + "/agent")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            page.get_by_label("Username").fill("ada")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Backorders")).to_be_visible()
            first_row = page.locator("table.board tbody tr").first
            expect(first_row).to_contain_text("OVEN")  # the most waiting customers on top
            expect(page.locator("svg.chart .bar-wait .count")).to_have_text("1")
            page.screenshot(path=str(artifacts / "dashboard-board.png"), full_page=True)

            first_row.get_by_role("link", name="OVEN").click()
            expect(page.get_by_role("heading", name="Who waits")).to_be_visible()
            expect(page.locator("table.lines")).to_contain_text("Grace Hopper")
            page.get_by_label("New date").fill("2027-02-01")
            page.get_by_label("Reason").fill("supplier delay")
            page.get_by_role("button", name="Check who will be told").click()
            expect(page.locator(".confirm-eta")).to_contain_text("tells 3 customers")
            page.get_by_role("button", name="Save and tell 3 customers").click()
            expect(page.locator(".notice")).to_contain_text("The new date is saved")
            page.screenshot(path=str(artifacts / "dashboard-sku.png"), full_page=True)

            page.get_by_role("link", name="Compose a broadcast").click()
            expect(page.get_by_label("SKU")).to_have_value("OVEN")
            expect(page.get_by_label("Send at (UTC)")).to_have_value("")  # empty: now
            page.get_by_label("Text", exact=True).fill(
                "Hi {{ first_name }}, {{ product }} now ships {{ eta }}."
            )
            page.screenshot(path=str(artifacts / "dashboard-composer.png"), full_page=True)
            page.get_by_role("button", name="Preview").click()
            expect(page.get_by_role("heading", name="Preview")).to_be_visible()
            expect(page.locator(".lead")).to_contain_text("3 of 3 matching customers")
            expect(page.locator(".sample").first).to_contain_text("Hi Grace, Product OVEN")
            page.screenshot(path=str(artifacts / "dashboard-preview.png"), full_page=True)

            page.get_by_role("button", name="Send to 3 customers").click()
            expect(page.get_by_role("heading", name="Broadcast")).to_be_visible()
            expect(page.locator('[data-field="percent_done"]')).to_have_text("100", timeout=20_000)
            expect(page.locator('[data-field="status"]')).to_have_text("done")
            expect(page.locator('[data-field="sent"]')).to_have_text("3")
            expect(page.get_by_role("button", name="Cancel what has not been sent")).to_be_hidden()
            page.screenshot(path=str(artifacts / "dashboard-progress.png"), full_page=True)
            assert problems == []
        finally:
            browser.close()
    with committed_db.read_session() as session:
        broadcast = session.scalars(select(Broadcast)).one()
        assert broadcast.created_by == "ada"
        oven = session.scalars(select(Product).where(Product.sku == "OVEN")).one()
        assert oven.eta is not None
        assert oven.eta.isoformat() == "2027-02-01"
    texts = [r.message.text for r in read_sandbox_log(str(sandbox_log))]
    assert sum("now ships" in t for t in texts) == 3  # one message each, no more
