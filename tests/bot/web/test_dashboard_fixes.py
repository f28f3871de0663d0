"""What misled agents or lost their work on the dashboard (issue 13), each promise one test:
expired offers read as expired, broadcast lists show the status as it is now, a cancelled
broadcast does not read "100% done", previews say what is wrong with an audience or a text,
the ETA form says who will be told before it saves, errors come all at once in words."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import delete, select, update

from bot.settings import Settings
from bot.web import create_app
from store.agents import add_agent
from store.db import Database
from store.models import (
    AgentSignIn,
    Broadcast,
    BroadcastStatus,
    Customer,
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxStatus,
    utcnow,
)
from tests import factories as f
from tests.bot.web import test_agent_dashboard as dashboard
from tests.bot.web.test_agent_dashboard import TEXT, confirm_form, preview, token

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
    assert re.search(r"<td data-label=\"Status\">done</td>", recent), recent[:800]
    assert ">sending" not in recent


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
    await signed_in.post(
        location + "/cancel", data={"csrf": await token(signed_in), "confirmed": "yes"}
    )
    html = (await signed_in.get(location)).text
    assert "% done" not in html
    assert re.search(r"Cancelled by ada:\s*<b>1</b> of 3 had been sent", html)
    with shop.read_session() as session:
        assert session.scalars(select(Broadcast.status)).one() == BroadcastStatus.CANCELLED


# --- the broadcast preview and the composer's errors -------------------------------------------


async def test_a_preview_for_an_unknown_sku_says_the_sku_is_unknown(
    signed_in: httpx.AsyncClient,
) -> None:
    response = await preview(signed_in, sku="OVNE")
    assert response.status_code == 422
    assert "no product has the SKU &#39;OVNE&#39;" in response.text
    assert "0 of 0" not in response.text
    assert 'value="OVNE"' in response.text  # kept to fix


async def test_a_preview_without_spanish_text_warns_about_spanish_speakers(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    with shop.session() as session:
        session.execute(update(Customer).where(Customer.name == "Grace Hopper").values(locale="es"))
    html = (await preview(signed_in)).text
    assert "Warning: 1 Spanish-speaking customer would get your English text" in html
    spanish = await preview(signed_in, **{"translations.es": "Hola {{ first_name }}."})
    assert "Spanish-speaking" not in spanish.text


async def test_every_form_error_comes_at_once_under_its_label(
    signed_in: httpx.AsyncClient,
) -> None:
    response = await preview(
        signed_in,
        waiting_days_min="many",
        send_at="2020-01-01T09:00",
        text="Hi {{ nickname }}",
    )
    assert response.status_code == 422
    summary = response.text.split('class="error-summary"')[1].split("</div>")[0]
    assert "3 things to fix" in summary
    assert '<a href="#f-waiting_days_min">Waiting at least (days)</a>' in summary
    assert '<a href="#f-text">Text</a>: unknown placeholder' in summary
    assert '<a href="#f-send_at">Send at</a>: this time has passed' in summary
    assert 'id="f-send_at"' in response.text
    assert "send_at" not in summary.replace("#f-send_at", "")


async def test_a_service_message_names_the_label_not_the_field(
    signed_in: httpx.AsyncClient,
) -> None:
    response = await preview(signed_in, eta_after="2027-03-01", eta_before="2027-01-01")
    assert response.status_code == 422
    assert "ETA after must be earlier than ETA before" in response.text
    assert "eta_after must" not in response.text


async def test_date_errors_ask_for_a_whole_date_in_no_format(
    signed_in: httpx.AsyncClient,
) -> None:
    composer = (await preview(signed_in, eta_after="13/45/2027")).text
    sku = (await signed_in.get("/agent/sku/OVEN/eta", params={"eta": ""})).text
    for html in (composer, sku):
        assert "YYYY" not in html
        assert "mm/dd" not in html.lower()
        assert "whole date" in html


# --- the ETA form says who will be told before it saves ---------------------------------------


async def test_the_eta_form_shows_how_many_customers_will_be_told_before_saving(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    check = await signed_in.get("/agent/sku/OVEN/eta", params={"eta": "2027-03-01", "reason": "x"})
    assert check.status_code == 200
    assert re.search(r"tells\s*<b>3 customers</b>", check.text)
    assert "Save and tell 3 customers" in check.text
    assert dashboard.eta_of(shop, "OVEN") == dt.date(2026, 12, 1)  # nothing saved yet
    assert dashboard.count(shop, dashboard.EtaChange) == 0
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', check.text))
    saved = await signed_in.post("/agent/sku/OVEN/eta", data=form)
    assert saved.status_code == 303
    assert dashboard.eta_of(shop, "OVEN") == dt.date(2027, 3, 1)


async def test_the_eta_check_of_the_date_already_told_says_nobody_is_told(
    signed_in: httpx.AsyncClient,
) -> None:
    csrf = await token(signed_in)
    await signed_in.post("/agent/sku/OVEN/eta", data={"csrf": csrf, "eta": "2027-03-01"})
    check = await signed_in.get("/agent/sku/OVEN/eta", params={"eta": "2027-03-01"})
    assert re.search(r"tells\s*<b>0 customers</b>", check.text)
    assert "Nobody's date moves enough" in check.text


# --- an expired session keeps the typed work; post, redirect, get ------------------------


async def _end_session(db: Database) -> None:
    with db.session() as session:  # as if it expired: the server forgets the sign-in
        session.execute(delete(AgentSignIn))


async def test_a_broadcast_typed_after_the_session_ended_comes_back_after_sign_in(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    csrf = await token(signed_in)
    await _end_session(shop)
    typed = "Hi {{ first_name }}, a long note I do not want to type twice."
    posted = await signed_in.post(
        "/agent/broadcasts/preview", data={"csrf": csrf, "sku": "OVEN", "text": typed}
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == "/agent/login"
    assert "note" not in posted.headers["location"]
    signed = await dashboard.sign_in(signed_in)
    assert signed.headers["location"] == "/agent/broadcasts/new"
    composer = await signed_in.get("/agent/broadcasts/new")
    assert "Your session had ended, so nothing was sent" in composer.text
    assert "a long note I do not want to type twice." in composer.text
    assert 'name="sku" value="OVEN"' in composer.text
    assert dashboard.count(shop, Broadcast) == 0
    again = await signed_in.get("/agent/broadcasts/new")  # given back once
    assert "a long note" not in again.text


async def test_a_page_opened_after_the_session_ended_comes_back_after_sign_in(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    await _end_session(shop)
    assert (await signed_in.get("/agent/sku/KETTLE")).headers["location"] == "/agent/login"
    assert (await dashboard.sign_in(signed_in)).headers["location"] == "/agent/sku/KETTLE"


async def test_an_eta_typed_after_the_session_ended_is_back_in_the_form(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    csrf = await token(signed_in)
    await _end_session(shop)
    await signed_in.post(
        "/agent/sku/OVEN/eta", data={"csrf": csrf, "eta": "2027-04-01", "reason": "strike"}
    )
    assert (await dashboard.sign_in(signed_in)).headers["location"] == "/agent/sku/OVEN"
    page = (await signed_in.get("/agent/sku/OVEN")).text
    assert 'value="2027-04-01"' in page
    assert 'value="strike"' in page
    assert dashboard.eta_of(shop, "OVEN") == dt.date(2026, 12, 1)


async def test_the_preview_is_a_page_of_its_own_that_reloads_without_posting(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    data = {"csrf": await token(signed_in), "sku": "OVEN", "text": TEXT}
    posted = await signed_in.post("/agent/broadcasts/preview", data=data)
    assert posted.status_code == 303
    location = posted.headers["location"]
    assert location.startswith("/agent/broadcasts/preview/")
    first, second = await signed_in.get(location), await signed_in.get(location)
    assert first.status_code == second.status_code == 200
    assert "3 of 3 matching customers" in second.text
    assert confirm_form(first.text)["key"] == confirm_form(second.text)["key"]
    assert TEXT not in location


async def test_another_agents_preview_is_not_shown(
    signed_in: httpx.AsyncClient, shop: Database, dashboard_settings: Settings
) -> None:
    data = {"csrf": await token(signed_in), "sku": "OVEN", "text": TEXT}
    location = (await signed_in.post("/agent/broadcasts/preview", data=data)).headers["location"]
    with shop.session() as session:
        add_agent(session, "bob", dashboard.PASSWORD, now=utcnow())
    async with dashboard.client_for(create_app(dashboard_settings, shop)) as bob:
        await dashboard.sign_in(bob, "bob")
        response = await bob.get(location)
    assert response.status_code == 404
    assert "Grace" not in response.text


# --- lists a page at a time, with filters ---------------------------------------------------


async def test_the_board_filters_by_overdue_date_no_date_and_supplier(
    signed_in: httpx.AsyncClient,
) -> None:
    # OVEN's date (2026-12-01) has passed by the real clock; KETTLE has no date.
    overdue = (await signed_in.get("/agent", params={"eta": "overdue"})).text
    assert 'href="/agent/sku/OVEN"' in overdue
    assert 'href="/agent/sku/KETTLE"' not in overdue
    no_date = (await signed_in.get("/agent", params={"eta": "none"})).text
    assert 'href="/agent/sku/KETTLE"' in no_date
    assert 'href="/agent/sku/OVEN"' not in no_date
    kettle_co = (await signed_in.get("/agent", params={"supplier": "Kettle Co"})).text
    assert 'href="/agent/sku/KETTLE"' in kettle_co
    assert 'href="/agent/sku/OVEN"' not in kettle_co


async def test_the_board_shows_fifty_skus_a_page(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    with shop.session() as session:
        for n in range(60):
            f.product(session, f"P{n:03d}", supplier="Bulk Co")
            f.order(session, f"C{n:03d}", [(f"P{n:03d}", 1)])
    first = (await signed_in.get("/agent", params={"supplier": "Bulk Co"})).text
    assert first.count('href="/agent/sku/P') == 50
    assert "Page 1 of 2 (60 in all)" in first
    assert 'href="?supplier=Bulk+Co&amp;page=2"' in first
    second = (await signed_in.get("/agent", params={"supplier": "Bulk Co", "page": "2"})).text
    assert second.count('href="/agent/sku/P') == 10
    beyond = (await signed_in.get("/agent", params={"page": "999999"})).text
    assert "Page 2 of 2" in beyond  # the last page, not an error
