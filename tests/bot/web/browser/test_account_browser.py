"""The account and API-token pages in a real browser, at 1280 px and on a 390 px phone: an
admin issues an agent's API token (shown once), revokes it after the confirm step, and changes
their own password (a refusal first, then the change). Checked with axe-core, no sideways
scrolling. Screenshots go to the artifacts folder (copies under docs/screenshots/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store.agents import add_agent
from store.db import Database
from store.models import utcnow
from tests.bot.web.browser.conftest import CHROMIUM, browser_or_skip
from tests.bot.web.browser.test_customer_browser import _overflow, _serious_violations, _widest
from tests.bot.web.test_agent_dashboard import PASSWORD

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a brand new password"


def _check(page: Any, what: str) -> None:
    assert _overflow(page) <= 0, f"{what} scrolls sideways: {_widest(page)}"
    assert _serious_violations(page) == []


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 900, "desktop"), (390, 844, "phone")])
def test_an_admin_manages_api_tokens_and_their_own_password(
    live_server: str, committed_db: Database, artifacts: Path, width: int, height: int, name: str
) -> None:
    sync_api = browser_or_skip()
    expect = sync_api.expect
    with committed_db.session() as session:
        add_agent(session, "boss", PASSWORD, now=utcnow(), is_admin=True)
        add_agent(session, "ada", PASSWORD, now=utcnow())
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            viewport = {"width": width, "height": height}
            # bypass_csp: axe-core is injected as a script tag, which the pages CSP forbids.
            page = browser.new_context(viewport=viewport, bypass_csp=True).new_page()
            page.goto(live_server + "/agent")
            page.get_by_label("Username").fill("boss")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Backorders").wait_for()

            page.get_by_role("link", name="API tokens").click()
            page.get_by_label("Agent").select_option("ada")
            page.get_by_label("What it is for").fill("helpdesk")
            page.get_by_role("button", name="Issue the token").click()
            expect(page.locator("code.token")).to_contain_text("bbt_")
            page.screenshot(path=str(artifacts / f"api-tokens-{name}.png"), full_page=True)
            _check(page, "the API tokens page")
            page.reload()
            expect(page.locator("code.token")).to_have_count(0)  # shown once
            page.locator("table.tokens").get_by_role("button", name="Revoke").click()
            page.get_by_role("button", name="Yes, revoke this api token").click()
            expect(page.get_by_role("status")).to_contain_text("The token is revoked")
            expect(page.locator("table.tokens")).to_contain_text("revoked by boss")

            page.get_by_role("link", name="Your account").click()
            page.get_by_label("Current password").fill("not the password")
            page.get_by_label("New password (at least 10 characters)").fill(NEW_PASSWORD)
            page.get_by_label("New password again").fill(NEW_PASSWORD)
            page.get_by_role("button", name="Change the password").click()
            expect(page.get_by_role("alert")).to_contain_text("the current password is not right")
            _check(page, "the account page")
            page.get_by_label("Current password").fill(PASSWORD)
            page.get_by_label("New password (at least 10 characters)").fill(NEW_PASSWORD)
            page.get_by_label("New password again").fill(NEW_PASSWORD)
            page.get_by_role("button", name="Change the password").click()
            expect(page.get_by_role("status")).to_contain_text("Your password is changed")
            page.screenshot(path=str(artifacts / f"account-{name}.png"), full_page=True)
            page.goto(live_server + "/agent")  # still signed in, on a fresh session
            expect(page.get_by_role("heading", name="Backorders")).to_be_visible()
        finally:
            browser.close()
