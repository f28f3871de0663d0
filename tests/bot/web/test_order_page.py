"""The order page, ``/o/<token>``, through the real app on the test database.

Each test opens the link the notifier put in a queued message, as a customer would.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from bot.conversation import Conversation, Incoming, Sender
from bot.settings import Settings
from bot.web import order_page
from bot.web.ops import WebMetrics
from messaging.notifier import notify_pending
from store.db import Database
from store.eta import set_eta
from store.models import (
    Channel,
    Customer,
    DomainEvent,
    LineStatus,
    Offer,
    OfferChoice,
    OfferStatus,
    Order,
    OrderLine,
    OutboxMessage,
    Product,
    ReachState,
    utcnow,
)
from store.offers import accept_offer
from store.order_links import revoke
from tests.bot.web.conftest import client_for
from tests.bot.web.order_scenarios import Linked, backordered_with_alternative, voice

pytestmark = pytest.mark.asyncio

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
EXPECTED_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


@pytest.fixture
def linked(committed_db: Database, settings: Settings) -> Linked:
    return backordered_with_alternative(committed_db, settings)


def assert_page_headers(response: httpx.Response) -> None:
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, name


async def confirm_form(client: httpx.AsyncClient, linked: Linked, choice: str) -> dict[str, str]:
    """Open the page, follow the choice's link to the confirm view, and read its form."""
    page = await client.get(linked.path)
    href = re.search(rf'href="([^"]+choice={choice})"', page.text)
    assert href is not None, page.text
    confirm = await client.get(href.group(1).replace("&amp;", "&"))
    assert confirm.status_code == 200
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', confirm.text))
    assert set(fields) == {"offer", "choice", "csrf"}
    return fields


def snapshot(db: Database, order_id: int) -> dict[str, Any]:
    """What a choice could change: the offers, lines, stock, events and messages."""
    with db.read_session() as session:
        return {
            "offers": session.execute(
                select(Offer.id, Offer.status, Offer.choice, Offer.coupon_code)
                .join(OrderLine, OrderLine.id == Offer.line_id)
                .where(OrderLine.order_id == order_id)
                .order_by(Offer.id)
            ).all(),
            "lines": session.execute(
                select(OrderLine.id, OrderLine.product_id, OrderLine.status)
                .where(OrderLine.order_id == order_id)
                .order_by(OrderLine.id)
            ).all(),
            "stock": session.execute(
                select(Product.sku, Product.stock_on_hand).order_by(Product.sku)
            ).all(),
            "events": session.scalar(select(func.count(DomainEvent.id))),
            "outbox": session.scalar(select(func.count(OutboxMessage.id))),
        }


# --- what the page shows -----------------------------------------------------------------------


async def test_page_shows_the_backorder_and_the_three_choices(
    client: httpx.AsyncClient, linked: Linked
) -> None:
    response = await client.get(linked.path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert '<html lang="en">' in page
    assert "Hi Ada" in page
    assert "W1001" in page
    assert "Waiting for stock" in page
    assert "Supplier's date: January 15, 2027" in page
    assert "Wait for it" in page
    assert "and get 10% off" in page
    assert "Switch to Product MUG-CUP" in page
    assert "in stock now, $25.00 more" in page
    assert "Cancel it" in page
    assert "Our shop" in page
    assert "support@example.com" in page


async def test_page_shows_no_last_name_phone_or_email(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database
) -> None:
    page = (await client.get(linked.path)).text
    assert "Lovelace" not in page
    assert "ada@example.com" not in page
    assert "+1415555" not in page


async def test_page_counts_how_often_the_supplier_date_moved(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database, settings: Settings
) -> None:
    with committed_db.session() as session:
        for eta in (dt.date(2027, 2, 1), dt.date(2027, 3, 1)):
            set_eta(session, "MUG", eta, source="agent", policy=settings.policy(), now=utcnow())
    page = (await client.get(linked.path)).text
    assert "Supplier's date: March 1, 2027" in page
    assert "The date has moved 2 times (first date given: January 15, 2027)." in page


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (LineStatus.ALLOCATED, "In stock and reserved for you"),
        (LineStatus.SHIPPED, "Shipped"),
        (LineStatus.CANCELLED, "Cancelled, with a full refund"),
    ],
)
async def test_page_shows_each_line_state_as_the_current_step(
    client: httpx.AsyncClient,
    linked: Linked,
    committed_db: Database,
    status: LineStatus,
    expected: str,
) -> None:
    with committed_db.session() as session:
        line = session.scalars(select(OrderLine).where(OrderLine.order_id == linked.order_id)).one()
        line.status = status
        for offer in line.offers:
            offer.status = OfferStatus.SUPERSEDED
    page = (await client.get(linked.path)).text
    current = re.search(r'aria-current="step">\s*<span class="label">([^<]+)</span>', page)
    assert current is not None
    assert current.group(1) == expected
    assert "What would you like to do?" not in page


async def test_decided_wait_shows_the_coupon_and_no_more_buttons(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database, settings: Settings
) -> None:
    with committed_db.session() as session:
        offer_id = session.scalars(
            select(Offer.id).join(OrderLine).where(OrderLine.order_id == linked.order_id)
        ).one()
        code = accept_offer(
            session, offer_id, OfferChoice.WAIT, via="sms", now=utcnow(), policy=settings.policy()
        ).coupon_code
    page = (await client.get(linked.path)).text
    assert code is not None
    assert f"<code>{code}</code>" in page
    assert "Your choice: wait, with 10% off." in page
    assert "choice=" not in page


async def test_page_is_in_the_customers_language(
    client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    spanish = backordered_with_alternative(
        committed_db, settings, number="W2002", name="Lucía García", locale="es-MX", sku="TAZA"
    )
    page = (await client.get(spanish.path)).text
    assert '<html lang="es">' in page
    assert "Hola, Lucía" in page
    assert "Esperando existencias" in page
    assert "Fecha del proveedor: 15 de enero de 2027" in page
    assert "Cambiar por Product TAZA-CUP" in page
    assert "¿Qué prefieres?" in page


async def test_stylesheet_is_served_under_the_same_headers(client: httpx.AsyncClient) -> None:
    response = await client.get(order_page.CSS_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert_page_headers(response)


# --- headers and refusals ---------------------------------------------------------------------


async def test_every_kind_of_answer_carries_the_security_headers(
    client: httpx.AsyncClient, linked: Linked
) -> None:
    fields = await confirm_form(client, linked, "wait")
    answers = [
        await client.get(linked.path),
        await client.get(f"{linked.path}/confirm?offer={fields['offer']}&choice=wait"),
        await client.post(linked.path, data={**fields, "csrf": "wrong"}),
        await client.post(linked.path, data=fields),
        await client.get("/o/" + "A" * 22),
    ]
    assert [a.status_code for a in answers] == [200, 200, 403, 303, 404]
    for answer in answers:
        assert_page_headers(answer)


async def test_unknown_revoked_and_malformed_tokens_get_the_identical_404(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database
) -> None:
    unknown = await client.get("/o/" + "B" * 22)
    with committed_db.session() as session:
        assert revoke(session, linked.order_id, utcnow())
    revoked = await client.get(linked.path)
    malformed = [
        await client.get(path)
        for path in (
            "/o/short",
            "/o/" + "C" * 200,
            "/o/" + linked.token + "=",
            "/o/%00%ff",
            "/o/a/b/c",
            "/o/" + linked.token + "/nothing-here",
        )
    ]
    for response in [revoked, *malformed]:
        assert response.status_code == 404
        assert response.content == unknown.content
        assert dict(response.headers) == dict(unknown.headers)
    assert unknown.status_code == 404
    assert "Page not found" in unknown.text
    assert_page_headers(unknown)


async def test_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database
) -> None:
    fields = await confirm_form(client, linked, "switch")
    before = snapshot(committed_db, linked.order_id)
    tries = [
        {"offer": fields["offer"], "choice": "switch"},
        {**fields, "csrf": "x" * len(fields["csrf"])},
        {**fields, "choice": "cancel"},  # a token for another choice
        {**fields, "offer": str(int(fields["offer"]) + 1)},
    ]
    for data in tries:
        response = await client.post(linked.path, data=data)
        assert response.status_code == 403
        assert "This form has expired" in response.text
        assert_page_headers(response)
    assert snapshot(committed_db, linked.order_id) == before


async def test_csrf_token_of_another_link_is_refused(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database, settings: Settings
) -> None:
    other = backordered_with_alternative(committed_db, settings, number="W3003", sku="BOWL")
    fields = await confirm_form(client, other, "wait")
    before = snapshot(committed_db, linked.order_id)
    response = await client.post(linked.path, data=fields)
    assert response.status_code == 403
    assert snapshot(committed_db, linked.order_id) == before


async def test_too_many_requests_get_429_with_the_same_headers(
    committed_db: Database, settings: Settings, linked: Linked
) -> None:
    limits = order_page.PageLimits(per_token=3, per_address=5, window_seconds=60)
    app = FastAPI()
    app.include_router(order_page.router(committed_db, settings, WebMetrics(), limits=limits))
    async with client_for(app) as client:
        same_token = [(await client.get(linked.path)).status_code for _ in range(4)]
        assert same_token == [200, 200, 200, 429]
        # Every request counts against its address, the one refused per token too: 4 of 5.
        other_tokens = [(await client.get("/o/" + f"{n:022d}")).status_code for n in range(2)]
        assert other_tokens == [404, 429]
        refused = await client.get(linked.path)
    assert refused.status_code == 429
    assert "Too many requests" in refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert_page_headers(refused)


# --- choosing --------------------------------------------------------------------------------


async def test_choosing_switch_on_the_page_confirms_and_shows_the_new_state(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database
) -> None:
    fields = await confirm_form(client, linked, "switch")
    response = await client.post(linked.path, data=fields)
    assert response.status_code == 303
    assert response.headers["location"] == linked.path + "?done=accepted"
    page = (await client.get(response.headers["location"])).text
    assert "Done: your choice is saved." in page
    assert "Your choice: switch to Product MUG-CUP." in page
    assert "Switched to Product MUG-CUP" in page
    assert "Instead of Product MUG, as you chose." in page
    with committed_db.read_session() as session:
        offer = session.get(Offer, int(fields["offer"]))
        assert offer is not None
        assert (offer.status, offer.choice, offer.decided_via) == (
            OfferStatus.ACCEPTED,
            OfferChoice.SWITCH,
            "web",
        )


async def test_a_second_click_changes_nothing(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database
) -> None:
    fields = await confirm_form(client, linked, "wait")
    first = await client.post(linked.path, data=fields)
    assert first.headers["location"].endswith("?done=accepted")
    after_first = snapshot(committed_db, linked.order_id)
    second = await client.post(linked.path, data=fields)
    assert second.status_code == 303
    assert second.headers["location"].endswith("?done=repeated")
    assert snapshot(committed_db, linked.order_id) == after_first
    page = (await client.get(second.headers["location"])).text
    assert "You had already chosen this. Nothing has changed." in page


async def test_another_choice_after_deciding_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database
) -> None:
    wait = await confirm_form(client, linked, "wait")
    cancel = await confirm_form(client, linked, "cancel")
    await client.post(linked.path, data=wait)
    after_wait = snapshot(committed_db, linked.order_id)
    response = await client.post(linked.path, data=cancel)
    assert response.headers["location"].endswith("?done=already_decided")
    assert snapshot(committed_db, linked.order_id) == after_wait


async def test_a_choice_on_the_page_ends_like_the_same_reply_by_sms(
    client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    on_page = backordered_with_alternative(committed_db, settings, number="P1", sku="JUG")
    by_sms = backordered_with_alternative(committed_db, settings, number="S1", sku="JAR")
    fields = await confirm_form(client, on_page, "switch")
    assert (await client.post(on_page.path, data=fields)).status_code == 303
    with committed_db.session() as session:
        reply = Conversation(
            session,
            shop_name=settings.shop_name,
            support_contact=settings.support_contact,
            policy=settings.policy(),
            now=utcnow(),
        ).handle(Channel.SMS, Sender(by_sms.customer_id), Incoming("2"))
        assert reply.also_queued
    with committed_db.session() as session:
        notify_pending(session, voice(settings), utcnow())
    page_state, sms_state = _decided(committed_db, on_page), _decided(committed_db, by_sms)
    assert page_state["via"] == "web"
    assert sms_state["via"] == "sms"
    for key in ("offer", "lines", "confirmation", "urgent"):
        assert page_state[key] == sms_state[key], key
    assert page_state["confirmation"][0] == "switch_confirmed"


def _decided(db: Database, linked: Linked) -> dict[str, Any]:
    """The decided offer, the lines and the queued confirmation, with the order's own names
    (number, SKU, link) replaced so two orders can be compared."""
    with db.read_session() as session:
        offer = session.scalars(
            select(Offer).join(OrderLine).where(OrderLine.order_id == linked.order_id)
        ).one()
        lines = session.execute(
            select(OrderLine.status, OrderLine.quantity, OrderLine.allocated_quantity)
            .where(OrderLine.order_id == linked.order_id)
            .order_by(OrderLine.id)
        ).all()
        message, body, urgent = session.execute(
            select(OutboxMessage.message, OutboxMessage.body, OutboxMessage.urgent)
            .where(OutboxMessage.customer_id == linked.customer_id)
            .order_by(OutboxMessage.id.desc())
        ).first() or (None, "", None)
    sku = {"P1": "JUG", "S1": "JAR"}[linked.number]
    body = body.replace(linked.url, "<link>").replace(linked.number, "<number>")
    return {
        "via": offer.decided_via,
        "offer": (offer.status, offer.choice),
        "lines": lines,
        "confirmation": (message, body.replace(sku, "<sku>")),
        "urgent": urgent,
    }


async def test_confirm_view_of_a_decided_offer_goes_back_to_the_page(
    client: httpx.AsyncClient, linked: Linked
) -> None:
    fields = await confirm_form(client, linked, "wait")
    await client.post(linked.path, data=fields)
    response = await client.get(f"{linked.path}/confirm?offer={fields['offer']}&choice=cancel")
    assert response.status_code == 303
    assert response.headers["location"] == linked.path
    assert_page_headers(response)


async def test_an_opted_out_customer_is_not_promised_a_confirmation(
    client: httpx.AsyncClient, linked: Linked, committed_db: Database, settings: Settings
) -> None:
    def queued() -> int:
        with committed_db.read_session() as session:
            return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0

    with committed_db.session() as session:
        notify_pending(session, voice(settings), now=utcnow())  # what was due before
    before = queued()
    with committed_db.session() as session:
        order = session.get(Order, linked.order_id)
        assert order is not None
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        customer.sms_state = ReachState.OPTED_OUT  # and no Telegram: nothing can be queued
    fields = await confirm_form(client, linked, "wait")
    response = await client.post(linked.path, data=fields)
    assert response.headers["location"].endswith("?done=accepted_unconfirmed")
    page = (await client.get(response.headers["location"])).text
    assert "Done: your choice is saved." in page
    assert "confirmation" not in page
    with committed_db.session() as session:
        notify_pending(session, voice(settings), now=utcnow())
    assert queued() == before  # what the page said is true: nothing was queued
