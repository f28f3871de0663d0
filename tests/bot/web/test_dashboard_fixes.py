"""What misled agents or lost their work on the dashboard (issue 13), each promise one test:
expired offers read as expired, broadcast lists show the status as it is now, a cancelled
broadcast does not read "100% done", previews say what is wrong with an audience or a text,
the ETA form says who will be told before it saves, errors come all at once in words."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import select, update

from store.db import Database
from store.models import (
    Broadcast,
    BroadcastStatus,
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxStatus,
    utcnow,
)
from tests.bot.web import test_agent_dashboard as dashboard
from tests.bot.web.test_agent_dashboard import confirm_form, preview, token

# The dashboard tests' shop (an agent, OVEN with three waiting customers, KETTLE with one).
dashboard_settings = dashboard.dashboard_settings
shop = dashboard.shop
client = dashboard.client
signed_in = dashboard.signed_in

pytestmark = pytest.mark.asyncio


def _open_offers_until(db: Database, when: dt.datetime, *, first_only: bool = False) -> None:
    with db.session() as session:
        ids = session.scalars(
            select(Offer.id).where(Offer.status == OfferStatus.OPEN).order_by(Offer.id)
        ).all()
        chosen = ids[:1] if first_only else ids
        session.execute(update(Offer).where(Offer.id.in_(chosen)).values(expires_at=when))


# --- expired offers ---------------------------------------------------------------------------


async def test_an_open_offer_past_its_expiry_shows_as_expired(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    _open_offers_until(shop, utcnow() - dt.timedelta(hours=1))
    _open_offers_until(shop, utcnow() + dt.timedelta(days=1), first_only=True)
    html = (await signed_in.get("/agent/sku/OVEN")).text
    assert html.count("waiting for an answer") == 1
    assert html.count("expired, no answer") == 1


async def test_the_chart_counts_open_offers_past_expiry_as_no_answer(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    _open_offers_until(shop, utcnow() - dt.timedelta(hours=1))  # OVEN's two, KETTLE's one
    html = (await signed_in.get("/agent")).text
    no_answer = html[html.index('class="bar bar-no_answer"') :].split("</g>")[0]
    assert ">3</text>" in no_answer


# --- broadcast status -------------------------------------------------------------------------


async def _sent_broadcast(agent: httpx.AsyncClient, db: Database) -> str:
    form = confirm_form((await preview(agent)).text)
    location = (await agent.post("/agent/broadcasts", data=form)).headers["location"]
    with db.session() as session:  # the dispatcher sends everything; nobody opens the page
        session.execute(update(OutboxMessage).values(status=OutboxStatus.SENT))
    return location


async def test_recent_broadcasts_show_a_finished_one_as_done_without_opening_it(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    await _sent_broadcast(signed_in, shop)
    html = (await signed_in.get("/agent/broadcasts/new")).text
    recent = html[html.index("Recent broadcasts") :]
    assert re.search(r"<td>done</td>", recent), recent[:800]
    assert "<td>sending" not in recent


async def test_a_cancelled_broadcast_does_not_read_100_percent_done(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    form = confirm_form((await preview(signed_in)).text)
    location = (await signed_in.post("/agent/broadcasts", data=form)).headers["location"]
    with shop.session() as session:  # one went out before the agent pressed cancel
        first = session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)).first()
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == first).values(status="sent")
        )
    await signed_in.post(location + "/cancel", data={"csrf": await token(signed_in)})
    html = (await signed_in.get(location)).text
    assert "% done" not in html
    assert re.search(r"Cancelled by ada:\s*<b>1</b> of 3 had been sent", html)
    with shop.read_session() as session:
        assert session.scalars(select(Broadcast.status)).one() == BroadcastStatus.CANCELLED
