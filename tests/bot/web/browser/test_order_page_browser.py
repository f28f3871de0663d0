"""The order page in headless Chromium: open the link from a queued SMS, choose SWITCH, confirm,
and see the new state; screenshots at phone and desktop widths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.settings import Settings
from messaging.notifier import notify_pending
from store.db import Database
from store.models import Offer, OfferChoice, OfferStatus, OrderLine, OutboxMessage, utcnow
from tests.bot.web.browser.conftest import CHROMIUM, browser_or_skip
from tests.bot.web.order_scenarios import backordered_with_alternative, voice

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 800)}
ACCENT = "rgb(11, 110, 79)"  # the primary button's colour in page.css: the stylesheet loaded


@pytest.mark.parametrize("width_name", list(VIEWPORTS))
def test_switch_chosen_in_the_browser_shows_the_new_state(
    width_name: str,
    live_server: str,
    committed_db: Database,
    live_settings: Settings,
    artifacts: Path,
) -> None:
    sync_api = browser_or_skip()
    linked = backordered_with_alternative(committed_db, live_settings)
    assert linked.url.startswith(live_server + "/o/")
    width, height = VIEWPORTS[width_name]
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_context(viewport={"width": width, "height": height}).new_page()
            # CSP violations are reported on the console; failed loads by their responses
            # (Chromium's own /favicon.ico guess is not the page's doing).
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

            page.goto(linked.url)
            sync_api.expect(page.get_by_text("Waiting for stock")).to_be_visible()
            page.screenshot(
                path=artifacts / f"order-page-{width_name}-1-choices.png", full_page=True
            )

            page.get_by_role("link", name=re.compile("Switch to Product MUG-CUP")).click()
            sync_api.expect(page.get_by_role("heading", name="Please confirm")).to_be_visible()
            confirm = page.get_by_role("button", name="Yes, switch")
            sync_api.expect(confirm).to_have_css("background-color", ACCENT)
            page.screenshot(
                path=artifacts / f"order-page-{width_name}-2-confirm.png", full_page=True
            )

            confirm.click()
            sync_api.expect(page.get_by_text("Done: your choice is saved.")).to_be_visible()
            sync_api.expect(
                page.get_by_text("Your choice: switch to Product MUG-CUP.")
            ).to_be_visible()
            assert page.url == linked.url + "?done=accepted"
            page.screenshot(
                path=artifacts / f"order-page-{width_name}-3-switched.png", full_page=True
            )
        finally:
            browser.close()
    assert problems == [], "CSP violations or failed loads"
    _assert_switched_and_confirmed(committed_db, live_settings, linked.order_id, linked.customer_id)


def _assert_switched_and_confirmed(
    db: Database, settings: Settings, order_id: int, customer_id: int
) -> None:
    with db.session() as session:
        notify_pending(session, voice(settings), utcnow())
        offer = session.scalars(
            select(Offer).join(OrderLine).where(OrderLine.order_id == order_id)
        ).one()
        assert (offer.status, offer.choice, offer.decided_via) == (
            OfferStatus.ACCEPTED,
            OfferChoice.SWITCH,
            "web",
        )
        last = session.scalars(
            select(OutboxMessage.message)
            .where(OutboxMessage.customer_id == customer_id)
            .order_by(OutboxMessage.id.desc())
        ).first()
        assert last == "switch_confirmed"
