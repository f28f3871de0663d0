"""The order page's timeline reaches "shipped", with each parcel's carrier and tracking link."""

from __future__ import annotations

import re

import httpx
import pytest

from bot.settings import Settings
from store.db import Database
from store.models import utcnow
from store.order_links import tokens_for_orders
from store.shipments import ship
from store.stock import receive_stock
from tests import factories as f
from tests.bot.web.order_scenarios import Linked, backordered_with_alternative, voice

pytestmark = pytest.mark.asyncio

CURRENT = re.compile(r'aria-current="step">\s*<span class="label">([^<]+)</span>')
TRACKING_URL = "https://track.example.com/?n=1Z999&x=1"


@pytest.fixture
def linked(committed_db: Database, settings: Settings) -> Linked:
    return backordered_with_alternative(committed_db, settings)


async def test_a_shipped_line_shows_shipped_with_its_tracking_link(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database
) -> None:
    with committed_db.session() as session:
        receive_stock(session, "MUG", 1, now=utcnow())
        ship(
            session,
            linked.number,
            carrier="UPS",
            tracking="1Z999",
            tracking_url=TRACKING_URL,
            now=utcnow(),
        )
    page = (await client.get(linked.path)).text
    current = CURRENT.search(page)
    assert current is not None
    assert current.group(1) == "Shipped"
    assert 'class="step step-shipped current"' in page
    assert ", with UPS, tracking number 1Z999." in page
    href = TRACKING_URL.replace("&", "&amp;")
    assert f'<a class="tracking" href="{href}" rel="noopener noreferrer">Track your parcel</a>' in (
        page
    )


async def test_a_partly_shipped_line_says_how_many_shipped(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database, settings: Settings
) -> None:
    links = voice(settings).order_links
    assert links is not None
    with committed_db.session() as session:
        f.product(session, "BOWL", stock=3)
        order = f.order(session, "W2001", [("BOWL", 3)], placed_at=utcnow())
        ship(session, "W2001", sku="BOWL", quantity=1, carrier="SEUR", now=utcnow())
        token = tokens_for_orders(session, {order.id}, links.token_key, utcnow())[order.id]
    page = (await client.get(f"/o/{token}")).text
    assert 'class="step step-shipped partial"' in page
    assert "1 of 3 shipped" in page
    assert ": 1 shipped, with SEUR." in page
    assert 'class="tracking"' not in page  # no link was given
