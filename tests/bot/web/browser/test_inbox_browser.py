"""The inbox, a hand-off and a reply by hand in a real browser, at 1280 px and on a 390 px phone.

María asks for a person ("quiero hablar con una persona") and writes again; Bob's text is not
understood: both reach the inbox through the real inbound path. The agent sees the count in
the navigation, opens the inbox, takes María's conversation, previews a reply (its SMS segment
count shown before sending), sends it, sees it in the timeline under their name, and closes the
conversation: the bot answers María again. Nothing overflows the phone's width. Screenshots
(inbox, hand-off, reply preview; desktop and phone) go to the artifacts folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot import inbound as inbound_service
from bot.conversation import Incoming
from bot.inbound import Received
from bot.settings import Settings
from store.agents import add_agent
from store.db import Database
from store.models import Channel, Customer, OutboxMessage, utcnow
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

MARIA = "+14155550191"
BOB = "+14155550192"
REPLY = "Hola María, soy Ada: tu pedido sale el lunes. ¿Te va bien?"


def _seed(db: Database, settings: Settings) -> None:
    with db.session() as session:
        add_agent(session, "ada", PASSWORD, now=utcnow())
        f.product(session, "DUTCH-OVEN", stock=5)
        maria = f.customer(session, "María José Ruiz", phone=MARIA)
        maria.locale = "es"
        f.order(session, "A-7", [("DUTCH-OVEN", 1)], who=maria, placed_at=utcnow())
        f.customer(session, "Bob Brown", phone=BOB)
    inbound = inbound_service.from_settings(settings, db)
    for n, (sender, text) in enumerate(
        [
            (MARIA, "quiero hablar con una persona"),
            (MARIA, "¿dónde está mi pedido?"),
            (BOB, "the lid of my oven is cracked"),
        ]
    ):
        received = Received(Channel.SMS, f"SM-browser-{n}", sender, Incoming(text=text))
        inbound.handle(received)


def _check(page: Any, what: str) -> None:
    assert _overflow(page) <= 0, f"{what} scrolls sideways: {_widest(page)}"
    assert _serious_violations(page) == []


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 900, "desktop"), (390, 844, "phone")])
def test_an_agent_answers_a_customer_who_asked_for_a_person(
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
    _seed(committed_db, live_settings)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            viewport = {"width": width, "height": height}
            # bypass_csp: axe-core is injected as a script tag, which the pages CSP forbids.
            page = browser.new_context(viewport=viewport, bypass_csp=True).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            _sign_in(page, live_server)

            nav = page.get_by_role("link", name="Inbox")
            expect(nav).to_contain_text("2")
            nav.click()
            expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
            rows = page.locator("table.inbox tbody tr")
            expect(rows).to_have_count(2)
            expect(page.locator("table.inbox")).to_contain_text("asked for a person")
            expect(page.locator("table.inbox")).to_contain_text("not understood")
            page.screenshot(path=str(artifacts / f"inbox-{name}.png"), full_page=True)
            _check(page, "the inbox")

            maria_row = rows.filter(has_text="María")
            maria_row.get_by_role("button", name="Assign to me").click()
            expect(page.get_by_role("status")).to_contain_text("Assigned to you")
            expect(page.get_by_role("link", name="Inbox")).to_contain_text("1 mine")
            page.locator("table.inbox tbody tr", has_text="María").get_by_role("link").click()

            expect(page.locator("h1")).to_contain_text("María José Ruiz")
            expect(page.get_by_text("Waiting for a person.")).to_be_visible()
            expect(page.locator("#inbox")).to_contain_text("2 messages")
            page.screenshot(path=str(artifacts / f"handoff-{name}.png"), full_page=True)
            _check(page, "the customer page")

            page.get_by_label("Message to María José Ruiz").fill(REPLY)
            page.get_by_role("button", name="Preview", exact=True).click()
            preview = page.locator(".preview-box")
            expect(preview).to_contain_text("SMS segment")
            expect(preview).to_contain_text("an answer: sent now, even in quiet hours")
            expect(preview).to_contain_text(REPLY)
            page.locator("#reply").screenshot(path=str(artifacts / f"reply-{name}.png"))
            _check(page, "the reply preview")
            page.get_by_role("button", name="Send", exact=True).click()
            expect(page.get_by_role("status").first).to_contain_text("Reply queued")
            expect(page.locator("ol.timeline > li").first).to_contain_text("Reply by ada")

            page.get_by_role("button", name="Close: the bot answers again").click()
            page.get_by_role("button", name="Yes, close this conversation").click()
            expect(page.get_by_text("Waiting for a person.")).to_have_count(0)
            assert problems == []
        finally:
            browser.close()
    with committed_db.read_session() as session:
        maria = session.scalars(select(Customer).where(Customer.phone == MARIA)).one()
        assert maria.handed_off_at is None
        sent = session.scalars(select(OutboxMessage)).all()
        assert [(m.address, m.urgent) for m in sent] == [(MARIA, True)]
