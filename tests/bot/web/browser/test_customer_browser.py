"""Search and the customer page in a real browser, at 1280 px and on a 390 px phone: an agent
types a national phone number in the box at the top, opens the customer, reads the orders and
the timeline; nothing overflows the phone's width, no script from a hostile name runs.
Screenshots (desktop and phone) go to the artifacts folder. Each page must have no serious or
critical axe-core violation (the vendored copy, or ``AXE_CORE_JS``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from store.agents import add_agent
from store.db import Database
from store.models import (
    Channel,
    InboundMessage,
    Offer,
    OfferChoice,
    OutboxMessage,
    OutboxStatus,
    utcnow,
)
from store.offers import accept_offer
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.bot.web.browser.a11y import AXE as A11Y_AXE
from tests.bot.web.browser.conftest import CHROMIUM, browser_or_skip

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
PHONE = "+14155550177"
LONG_TEXT = "Hola, ¿dónde está mi pedido? " * 6 + "https://example.com/" + "x" * 80


def _seed(db: Database) -> None:
    with db.session() as session:
        add_agent(session, "ada", PASSWORD, now=utcnow())
        f.product(session, "DUTCH-OVEN-5L-ENAMELLED-RED")
        f.product(session, "KETTLE")
        who = f.customer(session, '<img src=x onerror="window.pwned=1">María José', phone=PHONE)
        f.order(session, "A-7", [("DUTCH-OVEN-5L-ENAMELLED-RED", 2), ("KETTLE", 1)], who=who)
        offer = session.scalars(select(Offer).order_by(Offer.id)).first()
        assert offer is not None
        at = f.NOW + dt.timedelta(hours=2)
        accept_offer(session, offer.id, OfferChoice.WAIT, via="web", now=at, policy=DEFAULT_POLICY)
        session.add(
            InboundMessage(
                channel=Channel.SMS,
                provider_id="SM-1",
                sender=PHONE,
                body=LONG_TEXT,
                received_at=f.NOW + dt.timedelta(hours=1),
                customer_id=who.id,
            )
        )
        session.add(
            OutboxMessage(
                dedupe_key="browser:failed",
                customer_id=who.id,
                channel=Channel.SMS,
                address=PHONE,
                message="backordered",
                locale="es",
                body="Tu pedido A-7 está pendiente. Mira tu pedido: https://shop.example/o/abc",
                status=OutboxStatus.FAILED,
                last_error="21610: the number has opted out of messages",
                created_at=f.NOW + dt.timedelta(minutes=30),
            )
        )


def _sign_in(page: Any, base: str) -> None:
    page.goto(base + "/agent")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Backorders").wait_for()


def _overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


# axe-core (vendored, tests/bot/web/browser/vendor): each page is checked for accessibility.
AXE = A11Y_AXE


def _serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page (none checked without AXE)."""
    if not AXE:
        return []
    page.add_script_tag(path=AXE)
    found = page.evaluate("axe.run().then(r => r.violations)")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x)"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def _widest(page: Any) -> str:
    """The elements reaching past the window's right edge, to say what overflows."""
    return str(
        page.evaluate(
            "[...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className)"
        )
    )


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 900, "desktop"), (390, 844, "phone")])
def test_an_agent_finds_a_customer_and_reads_their_timeline(
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
            # axe is injected as a script: only then is the page's CSP bypassed.
            viewport = {"width": width, "height": height}
            page = browser.new_context(viewport=viewport, bypass_csp=bool(AXE)).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)
            _sign_in(page, live_server)

            search = page.get_by_role("searchbox", name="Search customers")
            search.fill("(415) 555-0177")
            search.press("Enter")
            expect(page.get_by_role("heading", name="Search")).to_be_visible()
            expect(page.locator("table.results")).to_contain_text("phone")
            page.screenshot(path=str(artifacts / f"customer-search-{name}.png"), full_page=True)
            assert _overflow(page) <= 0, f"the results page scrolls sideways: {_widest(page)}"
            assert _serious_violations(page) == []

            page.locator("table.results a").first.click()
            expect(page.locator("h1")).to_contain_text("María José")
            expect(page.locator("h1")).to_contain_text("<img src=x")  # shown as text
            expect(page.locator("section.order")).to_contain_text("DUTCH-OVEN-5L-ENAMELLED-RED")
            entries = page.locator("ol.timeline > li")
            expect(entries).to_have_count(3)
            expect(entries.nth(0)).to_contain_text("Choice: wait")
            expect(entries.nth(0)).to_contain_text("by the customer, order page")
            expect(entries.nth(1)).to_contain_text("From the customer")
            expect(entries.nth(2)).to_contain_text("21610: the number has opted out")
            page.screenshot(path=str(artifacts / f"customer-page-{name}.png"), full_page=True)
            assert _overflow(page) <= 0, f"the customer page scrolls sideways: {_widest(page)}"
            assert page.evaluate("window.pwned") is None
            assert _serious_violations(page) == []
            assert problems == []
        finally:
            browser.close()
