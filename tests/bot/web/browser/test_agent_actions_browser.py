"""Acting for a customer and agent admin in a real browser, at 1280 px and on a 390 px phone:
an admin opens a customer, applies "wait" on their open offer, cancels a reserved line (its
refund quoted on the button), sees both in the audit log; then adds an agent and disables
another. Nothing overflows the phone's width; Back after a form does not post again.
Screenshots go to the artifacts folder (copies under docs/screenshots/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from store.agents import add_agent
from store.db import Database
from store.models import Offer, OfferStatus, Refund, utcnow
from tests.bot.web.browser.conftest import CHROMIUM, browser_or_skip
from tests.bot.web.browser.test_customer_browser import _overflow, _serious_violations, _widest
from tests.bot.web.test_agent_actions import build_shop
from tests.bot.web.test_agent_dashboard import PASSWORD

pytestmark = pytest.mark.browser


def _seed(db: Database) -> dict[str, int]:
    """The shop of the action tests (Ada, a plain agent, and her customer Ada), and an admin."""
    ids = build_shop(db)
    with db.session() as session:
        add_agent(session, "boss", PASSWORD, now=utcnow(), is_admin=True)
    return ids


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(base + "/agent")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Backorders").wait_for()


def _check(page: Any, what: str) -> None:
    assert _overflow(page) <= 0, f"{what} scrolls sideways: {_widest(page)}"
    assert _serious_violations(page) == []


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 900, "desktop"), (390, 844, "phone")])
def test_an_admin_acts_for_a_customer_and_manages_agents(
    live_server: str,
    committed_db: Database,
    artifacts: Path,
    width: int,
    height: int,
    name: str,
) -> None:
    sync_api = browser_or_skip()
    expect = sync_api.expect
    ids = _seed(committed_db)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            viewport = {"width": width, "height": height}
            # bypass_csp: axe-core is injected as a script tag, which the pages CSP forbids.
            page = browser.new_context(viewport=viewport, bypass_csp=True).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)
            _sign_in(page, live_server, "boss")

            page.goto(f"{live_server}/agent/customers/{ids['ada']}")
            actions = page.locator("#actions")
            expect(actions).to_contain_text("Act for the customer")
            expect(actions.get_by_role("button", name="Cancel · refund $500.00")).to_be_visible()
            actions.get_by_role("button", name="Wait").click()
            expect(page.get_by_role("status")).to_contain_text("The choice is applied")
            actions.get_by_role("button", name="Cancel line · refund $20.00").click()
            # A danger button asks first, on a page of its own (no JavaScript needed).
            expect(page.get_by_role("heading", name="Cancel this line?")).to_be_visible()
            page.screenshot(path=str(artifacts / f"confirm-{name}.png"), full_page=True)
            _check(page, "the confirm page")
            page.get_by_role("button", name="Yes, cancel this line").click()
            expect(page.get_by_role("status")).to_contain_text("its refund is recorded as owed")
            page.screenshot(path=str(artifacts / f"customer-actions-{name}.png"), full_page=True)
            _check(page, "the customer page")
            page.go_back()  # the redirect left nothing to post again
            page.go_back()
            expect(page.locator("#actions")).to_be_visible()

            page.goto(f"{live_server}/agent/audit?customer={ids['ada']}")
            rows = page.locator("table.audit tbody tr")
            expect(rows).to_have_count(2)
            expect(rows.nth(0)).to_contain_text("customer.line_cancelled")
            expect(rows.nth(1)).to_contain_text("customer.offer_choice")
            expect(rows.nth(1)).to_contain_text("boss")
            page.screenshot(path=str(artifacts / f"audit-log-{name}.png"), full_page=True)
            _check(page, "the audit log")

            page.get_by_role("link", name="Agents", exact=True).click()
            page.get_by_label("Username").fill("cy")
            page.locator("form[action$='/agents'] input[name=password]").fill("a new long password")
            page.get_by_role("button", name="Add the agent").click()
            expect(page.get_by_role("status")).to_contain_text("cy is added")
            page.locator("#agent-ada").get_by_role("button", name="Disable").click()
            page.get_by_role("button", name="Yes, disable this agent").click()
            expect(page.get_by_role("status")).to_contain_text("ada is disabled")
            expect(page.locator("#agent-ada")).to_contain_text("disabled")
            page.screenshot(path=str(artifacts / f"agent-admin-{name}.png"), full_page=True)
            _check(page, "the agents page")

            page.goto(f"{live_server}/agent/outbox?status=failed")
            page.screenshot(path=str(artifacts / f"outbox-{name}.png"), full_page=True)
            _check(page, "the outbox")
            assert problems == []
        finally:
            browser.close()
    with committed_db.read_session() as session:
        offer = session.get(Offer, ids["ada_offer"])
        assert offer is not None
        assert (offer.status, offer.decided_via) == (OfferStatus.ACCEPTED, "agent")
        assert len(session.scalars(select(Refund)).all()) == 1  # Back posted nothing twice
