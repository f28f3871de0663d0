"""The agents' dashboard at /agent, through the ASGI app: sign-in, sessions, CSRF, the board,
a SKU's page and its ETA form, and the broadcast composer's preview, confirm and progress."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select, update

from bot.settings import Settings
from bot.web import agent, create_app
from bot.web.agent.session import SESSION_COOKIE
from bot.web.ops import WebMetrics
from store.agents import add_agent, remove_agent
from store.db import Database
from store.models import (
    AuditEntry,
    Broadcast,
    BroadcastStatus,
    Customer,
    DomainEvent,
    EtaChange,
    Offer,
    OfferChoice,
    OfferStatus,
    OutboxMessage,
    Product,
    utcnow,
)
from store.offers import accept_offer
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.bot.web.conftest import twilio_settings

pytestmark = pytest.mark.asyncio

PASSWORD = "correct horse battery"
BASE = "https://testserver"  # PUBLIC_BASE_URL is https: the session cookie is Secure
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_KEY = re.compile(r'name="key" value="([^"]+)"')


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, username: str = "ada", password: str = PASSWORD
) -> httpx.Response:
    form = await client.get("/agent/login")
    return await client.post(
        "/agent/login",
        data={"csrf": csrf_of(form.text), "username": username, "password": password},
    )


async def token(client: httpx.AsyncClient) -> str:
    """The signed-in session's CSRF token, as every page's forms carry it."""
    return csrf_of((await client.get("/agent")).text)


def count(db: Database, model: type) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def dashboard_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)
    return twilio_settings(order_link_secret="dashboard-tests-order-link-secret")


@pytest.fixture
def shop(committed_db: Database) -> Database:
    """An agent, and two SKUs with waiting customers (three on OVEN, one on KETTLE)."""
    with committed_db.session() as session:
        add_agent(session, "ada", PASSWORD, now=utcnow())
        f.product(session, "OVEN", eta=dt.date(2026, 12, 1), supplier="Acme Supply")
        f.product(session, "KETTLE", supplier="Kettle Co")
        for number, name in (("A1", "Grace Hopper"), ("A2", "Alan Turing"), ("A3", "Ada Byron")):
            f.order(session, number, [("OVEN", 1)], who=f.customer(session, name))
        f.order(session, "B1", [("KETTLE", 2)], who=f.customer(session, "Edsger Dijkstra"))
        offer = session.scalars(select(Offer).order_by(Offer.id)).first()
        assert offer is not None
        now = f.NOW + dt.timedelta(hours=1)  # before the offer expires
        accept_offer(session, offer.id, OfferChoice.WAIT, via="sms", now=now, policy=DEFAULT_POLICY)
    return committed_db


@pytest_asyncio.fixture
async def client(dashboard_settings: Settings, shop: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(dashboard_settings, shop)) as c:
        yield c


@pytest_asyncio.fixture
async def signed_in(client: httpx.AsyncClient) -> httpx.AsyncClient:
    response = await sign_in(client)
    assert response.status_code == 303
    return client


# --- sign-in and sessions ------------------------------------------------------------------


async def test_it_signs_in_with_the_right_password(client: httpx.AsyncClient) -> None:
    response = await sign_in(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/agent"
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v
    ).lower()
    for flag in ("httponly", "samesite=strict", "secure", "path=/agent", "max-age=28800"):
        assert flag in cookie
    board = await client.get("/agent")
    assert board.status_code == 200
    assert "OVEN" in board.text
    assert "ada" in board.text


async def test_it_refuses_a_wrong_password(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, password="not the password")
    assert response.status_code == 401
    assert "do not match" in response.text
    assert SESSION_COOKIE + "=" not in response.headers.get("set-cookie", "")
    board = await client.get("/agent")
    assert board.status_code == 303
    assert board.headers["location"] == "/agent/login"


async def test_it_refuses_an_unknown_agent(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, username="mallory")
    assert response.status_code == 401


async def test_the_sign_in_form_needs_its_csrf_token(client: httpx.AsyncClient) -> None:
    await client.get("/agent/login")
    response = await client.post("/agent/login", data={"username": "ada", "password": PASSWORD})
    assert response.status_code == 403
    assert SESSION_COOKIE + "=" not in response.headers.get("set-cookie", "")


async def test_sign_in_attempts_are_limited(client: httpx.AsyncClient) -> None:
    statuses = [(await sign_in(client, password="wrong password")).status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429


async def test_pages_send_the_strict_headers(signed_in: httpx.AsyncClient) -> None:
    response = await signed_in.get("/agent")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text
    assert "style=" not in response.text


async def test_a_session_expires_after_eight_hours(
    dashboard_settings: Settings, shop: Database
) -> None:
    now = [utcnow()]
    app = FastAPI()
    app.include_router(agent.router(dashboard_settings, shop, WebMetrics(), clock=lambda: now[0]))
    async with client_for(app) as client:
        assert (await sign_in(client)).status_code == 303
        now[0] += dt.timedelta(hours=7, minutes=59)
        assert (await client.get("/agent")).status_code == 200
        now[0] += dt.timedelta(minutes=2)
        response = await client.get("/agent")
        assert response.status_code == 303
        assert response.headers["location"] == "/agent/login"


async def test_a_tampered_cookie_is_no_session(signed_in: httpx.AsyncClient) -> None:
    value = signed_in.cookies[SESSION_COOKIE]
    body, mac = value.split(".")
    signed_in.cookies.set(SESSION_COOKIE, body[:-2] + "xx." + mac, domain="testserver")
    signed_in.cookies.delete(SESSION_COOKIE, domain="testserver.local")
    response = await signed_in.get("/agent")
    assert response.status_code == 303


async def test_removing_an_agent_ends_their_session(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    with shop.session() as session:
        remove_agent(session, "ada", now=utcnow())
    assert (await signed_in.get("/agent")).status_code == 303


async def test_signing_out_ends_the_session(signed_in: httpx.AsyncClient) -> None:
    response = await signed_in.post("/agent/logout", data={"csrf": await token(signed_in)})
    assert response.status_code == 303
    assert (await signed_in.get("/agent")).status_code == 303


async def test_a_copied_cookie_stops_working_after_sign_out(
    dashboard_settings: Settings, shop: Database
) -> None:
    app = create_app(dashboard_settings, shop)
    async with client_for(app) as browser:
        assert (await sign_in(browser)).status_code == 303
        copied = browser.cookies[SESSION_COOKIE]
        response = await browser.post("/agent/logout", data={"csrf": await token(browser)})
        assert response.status_code == 303
    async with client_for(app) as thief:
        thief.cookies.set(SESSION_COOKIE, copied)
        response = await thief.get("/agent")
        assert response.status_code == 303
        assert response.headers["location"] == "/agent/login"


async def test_signing_out_one_browser_leaves_the_agents_other_sessions(
    dashboard_settings: Settings, shop: Database
) -> None:
    app = create_app(dashboard_settings, shop)
    async with client_for(app) as laptop, client_for(app) as phone:
        assert (await sign_in(laptop)).status_code == 303
        assert (await sign_in(phone)).status_code == 303
        await laptop.post("/agent/logout", data={"csrf": await token(laptop)})
        assert (await phone.get("/agent")).status_code == 200


async def test_signing_out_everywhere_ends_every_session_of_that_agent_only(
    dashboard_settings: Settings, shop: Database
) -> None:
    with shop.session() as session:
        add_agent(session, "bob", PASSWORD, now=utcnow())
    app = create_app(dashboard_settings, shop)
    async with client_for(app) as laptop, client_for(app) as phone, client_for(app) as bob:
        for browser in (laptop, phone):
            assert (await sign_in(browser)).status_code == 303
        assert (await sign_in(bob, "bob")).status_code == 303
        board = (await laptop.get("/agent")).text
        assert 'action="/agent/logout-everywhere"' in board
        response = await laptop.post("/agent/logout-everywhere", data={"csrf": csrf_of(board)})
        assert response.status_code == 303
        assert (await laptop.get("/agent")).status_code == 303
        assert (await phone.get("/agent")).status_code == 303
        assert (await bob.get("/agent")).status_code == 200


async def test_signing_out_everywhere_needs_the_csrf_token(signed_in: httpx.AsyncClient) -> None:
    response = await signed_in.post("/agent/logout-everywhere", data={"csrf": "forged"})
    assert response.status_code == 303  # back to the board (bot.web.agent.drafts), not out
    assert response.headers["location"] == "/agent"
    assert (await signed_in.get("/agent")).status_code == 200


# --- CSRF -----------------------------------------------------------------------------------


def eta_of(db: Database, sku: str) -> dt.date | None:
    with db.read_session() as session:
        return session.scalar(select(Product.eta).where(Product.sku == sku))


@pytest.mark.parametrize("csrf", [None, "", "forged-token"])
async def test_a_form_without_the_right_csrf_token_is_refused_and_writes_nothing(
    signed_in: httpx.AsyncClient, shop: Database, csrf: str | None
) -> None:
    data = {"eta": "2027-01-15"} | ({"csrf": csrf} if csrf is not None else {})
    response = await signed_in.post("/agent/sku/OVEN/eta", data=data)
    # Kept and sent back to its page to submit again (bot.web.agent.drafts), not saved.
    assert response.status_code == 303
    assert response.headers["location"] == "/agent/sku/OVEN"
    assert eta_of(shop, "OVEN") == dt.date(2026, 12, 1)
    assert count(shop, EtaChange) == 0


async def test_a_broadcast_without_the_csrf_token_is_refused(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    response = await signed_in.post(
        "/agent/broadcasts", data={"key": "k1", "sku": "OVEN", "text": "Hello {{ first_name }}"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/agent/broadcasts/new"
    assert count(shop, Broadcast) == 0


async def test_another_sessions_token_is_refused(
    dashboard_settings: Settings, shop: Database, signed_in: httpx.AsyncClient
) -> None:
    async with client_for(create_app(dashboard_settings, shop)) as other:
        await sign_in(other)
        theirs = await token(other)
    assert theirs != await token(signed_in)
    response = await signed_in.post("/agent/sku/OVEN/eta", data={"csrf": theirs, "eta": "2027-1-1"})
    assert response.status_code == 303
    assert response.headers["location"] == "/agent/sku/OVEN"
    assert eta_of(shop, "OVEN") == dt.date(2026, 12, 1)


async def test_a_form_without_a_session_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/agent/sku/OVEN/eta", data={"csrf": "x", "eta": "2027-01-15"})
    assert response.status_code == 303  # to sign in, the form kept (bot.web.agent.drafts)
    assert response.headers["location"] == "/agent/login"
    cross_site = await client.post(
        "/agent/sku/OVEN/eta",
        data={"csrf": "x", "eta": "2027-01-15"},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    fetched = await client.post(
        "/agent/sku/OVEN/eta",
        data={"csrf": "x", "eta": "2027-01-15"},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "null"},
    )
    assert fetched.status_code == 403


# --- board and SKU page ---------------------------------------------------------------------


async def test_the_board_lists_skus_by_waiting_customers(signed_in: httpx.AsyncClient) -> None:
    html = (await signed_in.get("/agent")).text
    assert html.index("OVEN") < html.index("KETTLE")
    oven_row = html[html.index('href="/agent/sku/OVEN"') :].split("</tr>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", oven_row, re.S)
    assert cells[:7] == ["Product OVEN", "Acme Supply", "3", "3", cells[4], "2026-12-01", "0×"]


async def test_the_board_charts_offer_outcomes(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    with shop.session() as session:  # the open offers still in time: no outcome yet
        session.execute(
            update(Offer)
            .where(Offer.status == OfferStatus.OPEN)
            .values(expires_at=utcnow() + dt.timedelta(days=1))
        )
    html = (await signed_in.get("/agent")).text
    assert "<svg" in html
    wait_bar = html[html.index('class="bar bar-wait"') :].split("</g>")[0]
    assert 'width="320"' in wait_bar
    assert ">1</text>" in wait_bar
    assert re.search(r'bar-switch">.*?width="0"', html, re.S)


async def test_the_sku_page_shows_who_waits_and_their_choices(
    signed_in: httpx.AsyncClient,
) -> None:
    response = await signed_in.get("/agent/sku/OVEN")
    assert response.status_code == 200
    html = response.text
    for name in ("Grace Hopper", "Alan Turing", "Ada Byron"):
        assert name in html
    assert "chose wait" in html
    # The factories' offers expired long before the real clock's today.
    assert html.count("expired, no answer") == 2
    assert 'href="/agent/broadcasts/new?sku=OVEN"' in html


async def test_an_unknown_sku_is_404(signed_in: httpx.AsyncClient) -> None:
    assert (await signed_in.get("/agent/sku/NOPE")).status_code == 404


async def test_the_eta_form_sets_the_date_and_tells_the_customers(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    before = count(shop, DomainEvent)
    response = await signed_in.post(
        "/agent/sku/OVEN/eta",
        data={"csrf": await token(signed_in), "eta": "2027-01-15", "reason": "port strike"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/agent/sku/OVEN?done=eta_saved"
    assert eta_of(shop, "OVEN") == dt.date(2027, 1, 15)
    with shop.read_session() as session:
        change = session.scalars(select(EtaChange)).one()
        assert (change.source, change.reason) == ("dashboard:ada", "port strike")
    assert count(shop, DomainEvent) > before  # the notifier tells the waiting customers
    page = await signed_in.get(response.headers["location"])
    assert "The new date is saved" in page.text


async def test_a_bad_date_is_shown_again_and_changes_nothing(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    response = await signed_in.post(
        "/agent/sku/OVEN/eta", data={"csrf": await token(signed_in), "eta": "soon"}
    )
    assert response.status_code == 422
    assert "Pick a whole date" in response.text
    assert eta_of(shop, "OVEN") == dt.date(2026, 12, 1)


# --- broadcasts -----------------------------------------------------------------------------

TEXT = "Hi {{ first_name }}, {{ product }} is now due {{ eta }}."


async def preview(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    data = {"csrf": await token(client), "sku": "OVEN", "text": TEXT, **fields}
    # A valid form is kept and redirected to its preview page (post, redirect, get).
    return await client.post("/agent/broadcasts/preview", data=data, follow_redirects=True)


def confirm_form(html: str) -> dict[str, str]:
    """The confirm form's fields, as the browser would post them."""
    form = html[html.index('action="/agent/broadcasts" class="confirm"') :].split("</form>")[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


async def test_the_composer_is_aimed_at_a_sku(signed_in: httpx.AsyncClient) -> None:
    html = (await signed_in.get("/agent/broadcasts/new?sku=OVEN")).text
    assert 'name="sku" value="OVEN"' in html
    assert "{{ first_name }}" in html  # the placeholders are listed
    assert re.search(
        r'Send at \(UTC\) <input type="datetime-local" id="f-send_at" name="send_at" value="">',
        html,
    )


async def test_the_preview_counts_and_renders_without_writing(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    outbox = count(shop, OutboxMessage)
    response = await preview(signed_in)
    assert response.status_code == 200
    html = response.text
    assert "3 of 3 matching customers" in html
    assert "Hi Grace, Product OVEN is now due" in html
    assert "SMS segment" in html
    assert _KEY.search(html)
    assert count(shop, Broadcast) == 0
    assert count(shop, OutboxMessage) == outbox


async def test_the_preview_refuses_an_unknown_placeholder(signed_in: httpx.AsyncClient) -> None:
    response = await preview(signed_in, text="Hi {{ nickname }}")
    assert response.status_code == 422
    assert "unknown placeholder" in response.text
    assert "Hi {{ nickname }}" in response.text  # the agent's text is kept to fix


async def test_the_preview_refuses_a_costly_text_next_to_it(
    signed_in: httpx.AsyncClient,
) -> None:
    response = await preview(signed_in, text="{% for i in range(10**9) %}{% endfor %}")
    assert response.status_code == 422
    assert "loops or calls more than" in response.text


async def test_the_preview_warns_about_a_many_segment_sms(signed_in: httpx.AsyncClient) -> None:
    long = "Hi {{ first_name }}. " + "This is a long note about your order. " * 20
    html = (await preview(signed_in, text=long)).text
    assert "Warning: each SMS of this broadcast is" in html


async def test_confirming_twice_creates_one_broadcast(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    form = confirm_form((await preview(signed_in)).text)
    first = await signed_in.post("/agent/broadcasts", data=form)
    second = await signed_in.post("/agent/broadcasts", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    with shop.read_session() as session:
        broadcast = session.scalars(select(Broadcast)).one()
        assert broadcast.created_by == "ada"
        assert broadcast.filters["sku"] == "OVEN"
        created = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "broadcast.created")
        ).one()
        assert created.actor == "ada"
        queued = session.scalar(
            select(func.count()).where(OutboxMessage.broadcast_id == broadcast.id)
        )
    assert queued == 3


SPANISH = "Hola {{ first_name }}, {{ product }} llega el {{ eta }}."


async def test_a_spanish_text_goes_from_the_composer_to_spanish_speakers(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    composer = (await signed_in.get("/agent/broadcasts/new")).text
    assert "Spanish text (optional; Spanish-speaking customers get this instead)" in composer
    assert 'name="translations.es"' in composer
    with shop.session() as session:
        session.execute(update(Customer).where(Customer.name == "Grace Hopper").values(locale="es"))
    page = await preview(signed_in, **{"translations.es": SPANISH})
    assert page.status_code == 200
    assert "Hola Grace, Product OVEN llega el" in page.text
    form = confirm_form(page.text)
    assert form["translations.es"] == SPANISH
    assert (await signed_in.post("/agent/broadcasts", data=form)).status_code == 303
    with shop.read_session() as session:
        assert session.scalars(select(Broadcast.translations)).one() == {"es": SPANISH}
        bodies = dict(
            session.execute(
                select(Customer.name, OutboxMessage.body)
                .join(Customer, Customer.id == OutboxMessage.customer_id)
                .where(OutboxMessage.broadcast_id.is_not(None))
            ).all()
        )
    assert "Hola Grace" in bodies["Grace Hopper"]
    assert "Hi Alan" in bodies["Alan Turing"]


async def test_a_bad_spanish_text_is_shown_next_to_its_box(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    response = await preview(signed_in, **{"translations.es": "Hola {{ nombre }}"})
    assert response.status_code == 422
    assert re.search(
        r'name="translations.es"[^>]*>Hola \{\{ nombre \}\}</textarea>'
        r'<span class="field-error" role="alert">the es translation: unknown placeholder',
        response.text,
    )
    assert count(shop, Broadcast) == 0


async def test_a_confirm_without_a_preview_key_is_sent_back(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    response = await signed_in.post(
        "/agent/broadcasts", data={"csrf": await token(signed_in), "sku": "OVEN", "text": TEXT}
    )
    assert response.status_code == 422
    assert count(shop, Broadcast) == 0


async def test_the_progress_page_shows_the_delivery_counts(
    signed_in: httpx.AsyncClient,
) -> None:
    form = confirm_form((await preview(signed_in)).text)
    location = (await signed_in.post("/agent/broadcasts", data=form)).headers["location"]
    page = await signed_in.get(location)
    assert page.status_code == 200
    assert 'src="/agent/static/progress.js"' in page.text
    assert re.search(r'data-field="queued">3<', page.text)
    numbers = (await signed_in.get(location + "/progress")).json()
    assert (numbers["queued"], numbers["pending"], numbers["finished"]) == (3, 3, False)
    assert numbers["status"] == "sending"


async def test_a_broadcast_can_be_cancelled_from_its_page(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    form = confirm_form((await preview(signed_in)).text)
    location = (await signed_in.post("/agent/broadcasts", data=form)).headers["location"]
    response = await signed_in.post(
        location + "/cancel", data={"csrf": await token(signed_in), "confirmed": "yes"}
    )
    assert response.status_code == 303
    numbers = (await signed_in.get(location + "/progress")).json()
    assert (numbers["status"], numbers["skipped"], numbers["finished"]) == ("cancelled", 3, True)
    with shop.read_session() as session:
        assert session.scalars(select(Broadcast.cancelled_by)).one() == "ada"


# --- scheduled broadcasts (send at), typed in the shop's zone -------------------------------

MADRID = ZoneInfo("Europe/Madrid")


def in_zone(settings: Settings, zone: str) -> Settings:
    """The dashboard's settings for a shop in ``zone`` (DEFAULT_TIMEZONE)."""
    return settings.model_copy(update={"default_timezone": zone})


@pytest_asyncio.fixture
async def madrid(dashboard_settings: Settings, shop: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-in agent of a shop whose DEFAULT_TIMEZONE is Europe/Madrid."""
    async with client_for(create_app(in_zone(dashboard_settings, "Europe/Madrid"), shop)) as c:
        assert (await sign_in(c)).status_code == 303
        yield c


def next_month_at_noon() -> dt.datetime:
    """A naive Madrid wall time about a month ahead (noon: never in a clock change)."""
    day = (utcnow() + dt.timedelta(days=30)).astimezone(MADRID).date()
    return dt.datetime.combine(day, dt.time(12, 0))


def last_sunday(year: int, month: int) -> dt.date:
    """When the EU changes the clocks (at 01:00 UTC): the last Sunday of March and October."""
    day = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
    return day - dt.timedelta(days=(day.weekday() - 6) % 7)


def due_times(db: Database) -> tuple[dt.datetime | None, BroadcastStatus, list[dt.datetime]]:
    """The one broadcast's send_at and status, and when each of its outbox rows is due."""
    with db.read_session() as session:
        broadcast = session.scalars(select(Broadcast)).one()
        due = session.scalars(
            select(OutboxMessage.due_at).where(OutboxMessage.broadcast_id == broadcast.id)
        ).all()
        return broadcast.send_at, broadcast.status, list(due)


async def test_the_preview_shows_when_a_scheduled_broadcast_goes(
    madrid: httpx.AsyncClient, shop: Database
) -> None:
    local = next_month_at_noon()
    typed = local.strftime("%Y-%m-%dT%H:%M")
    response = await preview(madrid, send_at=typed)
    assert response.status_code == 200
    zone = local.replace(tzinfo=MADRID).tzname()
    assert f"Scheduled: once you confirm, it goes at <b>{local:%Y-%m-%d} 12:00 {zone}" in (
        response.text
    )
    assert "(Europe/Madrid)" in response.text
    assert confirm_form(response.text)["send_at"] == typed
    assert count(shop, Broadcast) == 0


async def test_a_scheduled_broadcast_is_queued_due_at_its_time(
    madrid: httpx.AsyncClient, shop: Database
) -> None:
    local = next_month_at_noon()
    form = confirm_form((await preview(madrid, send_at=f"{local:%Y-%m-%dT%H:%M}")).text)
    first = await madrid.post("/agent/broadcasts", data=form)
    second = await madrid.post("/agent/broadcasts", data=form)  # same send_at: same digest
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    send_at, status, due = due_times(shop)
    expected = local.replace(tzinfo=MADRID).astimezone(dt.UTC)
    assert send_at == expected
    assert due == [expected] * 3  # all three customers' rows wait for it
    assert status == BroadcastStatus.SCHEDULED
    page = (await madrid.get(first.headers["location"])).text
    assert f"Scheduled for <b>{local:%Y-%m-%d} 12:00" in page
    composer = (await madrid.get("/agent/broadcasts/new")).text
    assert f"scheduled for {local:%Y-%m-%d} 12:00" in composer  # the recent broadcasts


async def test_an_ambiguous_time_is_its_first_occurrence(
    madrid: httpx.AsyncClient, shop: Database
) -> None:
    day = last_sunday(utcnow().year + 1, 10)  # 03:00 CEST becomes 02:00 CET: 02:30 twice
    response = await preview(madrid, send_at=f"{day}T02:30")
    assert f"{day} 02:30 CEST" in response.text
    await madrid.post("/agent/broadcasts", data=confirm_form(response.text))
    send_at, _status, due = due_times(shop)
    first = dt.datetime.combine(day, dt.time(0, 30), tzinfo=dt.UTC)  # on summer time, UTC+2
    assert send_at == first
    assert due == [first] * 3


def _dst_gap() -> str:
    day = last_sunday(utcnow().year + 1, 3)  # 02:00 CET becomes 03:00 CEST: no 02:30
    return f"{day}T02:30"


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("next tuesday", "pick a whole date and time"),
        ("2026-02-30T09:00", "pick a whole date and time"),
        ("2027-01-01T09:00+01:00", "pick a whole date and time"),
        ("2020-01-01T09:00", "this time has passed"),
        (_dst_gap(), "does not exist on"),
    ],
)
async def test_a_bad_send_time_is_shown_again_and_writes_nothing(
    madrid: httpx.AsyncClient, shop: Database, typed: str, error: str
) -> None:
    outbox = count(shop, OutboxMessage)
    shown = await preview(madrid, send_at=typed)
    assert shown.status_code == 422
    assert error in shown.text
    assert 'class="field-error"' in shown.text.split('name="send_at"')[1].split("</label>")[0]
    # A confirm form edited after its preview is checked the same way.
    form = confirm_form((await preview(madrid)).text) | {"send_at": typed}
    confirmed = await madrid.post("/agent/broadcasts", data=form)
    assert confirmed.status_code == 422
    assert error in confirmed.text
    assert count(shop, Broadcast) == 0
    assert count(shop, OutboxMessage) == outbox


async def test_a_time_past_the_calendars_end_in_utc_is_refused(
    dashboard_settings: Settings, shop: Database
) -> None:
    async with client_for(create_app(in_zone(dashboard_settings, "America/New_York"), shop)) as c:
        await sign_in(c)
        response = await preview(c, send_at="9999-12-31T23:00")  # UTC: year 10000
    assert response.status_code == 422
    assert "pick a whole date and time" in response.text


async def test_an_empty_send_time_sends_now(madrid: httpx.AsyncClient, shop: Database) -> None:
    response = await preview(madrid, send_at="")
    assert "It goes as soon as you confirm." in response.text
    form = confirm_form(response.text)
    assert form["send_at"] == ""
    before = utcnow()
    assert (await madrid.post("/agent/broadcasts", data=form)).status_code == 303
    send_at, status, due = due_times(shop)
    assert send_at is None
    assert status == BroadcastStatus.SENDING
    assert len(due) == 3
    assert all(before - dt.timedelta(seconds=1) <= at <= utcnow() for at in due)


async def test_the_static_files_are_served(client: httpx.AsyncClient) -> None:
    css = await client.get("/agent/static/agent.css")
    js = await client.get("/agent/static/progress.js")
    assert css.headers["content-type"].startswith("text/css")
    assert js.headers["content-type"].startswith("text/javascript")
    assert (await client.get("/agent/static/../base.html")).status_code == 404


async def test_expired_offers_count_as_no_answer(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    with shop.session() as session:
        offer = session.scalars(select(Offer).where(Offer.status == OfferStatus.OPEN)).first()
        assert offer is not None
        offer.status = OfferStatus.EXPIRED
        session.execute(  # the others are still in time
            update(Offer)
            .where(Offer.status == OfferStatus.OPEN)
            .values(expires_at=utcnow() + dt.timedelta(days=1))
        )
    html = (await signed_in.get("/agent")).text
    bar = html[html.index('class="bar bar-no_answer"') :].split("</g>")[0]
    assert ">1</text>" in bar


async def test_a_past_date_is_a_form_error_and_changes_nothing(
    signed_in: httpx.AsyncClient, shop: Database
) -> None:
    before = count(shop, DomainEvent)
    response = await signed_in.post(
        "/agent/sku/OVEN/eta", data={"csrf": await token(signed_in), "eta": "2020-01-01"}
    )
    assert response.status_code == 422
    assert "eta 2020-01-01 is in the past" in response.text
    assert 'role="alert"' in response.text
    assert eta_of(shop, "OVEN") == dt.date(2026, 12, 1)
    assert count(shop, DomainEvent) == before
    assert count(shop, EtaChange) == 0
