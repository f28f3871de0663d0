"""A refused reply by hand in a real browser: post, redirect, get, with the agent's text kept.

María can be reached on SMS only; the agent writes a reply, and while it is being written her
phone number is removed (another agent, or the shop's platform); the preview is refused. The
refusal comes back on the customer page (a GET, after a 303) with the reason and the text
still in the box; Reload shows the same, without posting anything again (no "Confirm Form
Resubmission"). Sending on SMS then goes through once and the refusal is gone. Checked with
axe-core at 1280 and 390 px.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.settings import Settings
from store.agents import add_agent
from store.db import Database
from store.models import Customer, OutboxMessage, utcnow
from tests import factories as f
from tests.bot.web.browser.conftest import CHROMIUM, browser_or_skip
from tests.bot.web.browser.test_customer_browser import (
    PASSWORD,
    _overflow,
    _serious_violations,
    _sign_in,
    _widest,
)

pytestmark = pytest.mark.browser
TEXT = "Hola María: tu pedido sale el lunes."
PHONE = "+14155550193"


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 900, "desktop"), (390, 844, "phone")])
def test_a_refused_reply_keeps_the_text_and_reload_posts_nothing(
    live_server: str,
    live_settings: Settings,
    committed_db: Database,
    artifacts: Path,
    width: int,
    height: int,
    name: str,
) -> None:
    sync_api = browser_or_skip()
    expect = sync_api.expect
    with committed_db.session() as session:
        add_agent(session, "ada", PASSWORD, now=utcnow())
        maria = f.customer(session, "María José Ruiz", phone=PHONE)
        customer_id = maria.id
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            viewport = {"width": width, "height": height}
            # bypass_csp: axe-core is injected as a script tag, which the pages CSP forbids.
            page = browser.new_context(viewport=viewport, bypass_csp=True).new_page()
            posts: list[str] = []
            page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            _sign_in(page, live_server)
            page.goto(f"{live_server}/agent/customers/{customer_id}")
            page.get_by_label("Message to María José Ruiz").fill(TEXT)
            page.get_by_label("Channel").select_option("sms")
            _set_phone(committed_db, customer_id, None)  # changed while the agent writes
            posts.clear()
            page.get_by_role("button", name="Preview", exact=True).click()
            alert = page.locator("#reply [role=alert]")
            expect(alert).to_be_visible()
            expect(page.get_by_label("Message to María José Ruiz")).to_have_value(TEXT)
            assert len(posts) == 1
            assert page.url.endswith(f"/agent/customers/{customer_id}#reply")  # a GET page
            page.screenshot(path=str(artifacts / f"refused-reply-{name}.png"), full_page=True)
            _check(page, "the refused reply")

            page.reload()
            expect(alert).to_be_visible()
            expect(page.get_by_label("Message to María José Ruiz")).to_have_value(TEXT)
            assert len(posts) == 1  # Reload posted nothing
            assert dialogs == []

            _set_phone(committed_db, customer_id, PHONE)
            page.reload()  # the page offers SMS again; the text is still kept
            expect(page.get_by_label("Message to María José Ruiz")).to_have_value(TEXT)
            page.get_by_label("Channel").select_option("sms")
            page.get_by_role("button", name="Preview", exact=True).click()
            expect(page.locator("#reply .preview")).to_contain_text(TEXT)  # after a 303, a GET
            page.get_by_role("button", name="Send", exact=True).click()
            expect(page.get_by_role("status").first).to_contain_text("Reply queued")
            expect(page.locator("#reply [role=alert]")).to_have_count(0)  # went through
            assert len(posts) == 3
            assert dialogs == []
        finally:
            browser.close()
    with committed_db.read_session() as session:
        sent = session.scalars(select(OutboxMessage)).all()
        assert [m.body for m in sent if m.customer_id == customer_id] != []
        assert len(sent) == 1
        assert session.get(Customer, customer_id) is not None


def _set_phone(db: Database, customer_id: int, phone: str | None) -> None:
    with db.session() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.phone = phone


def _check(page: Any, what: str) -> None:
    assert _overflow(page) <= 0, f"{what} scrolls sideways: {_widest(page)}"
    assert _serious_violations(page) == []
