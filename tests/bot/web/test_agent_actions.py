"""An agent acting for a customer from the customer page (issue 13): the same store functions
as the customer's own replies, recorded ``via="agent"`` and in the audit log under the agent's
name; CSRF on every form; someone else's ids change nothing; post, redirect, get."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.settings import Settings
from bot.web import create_app
from store.agents import add_agent
from store.db import Database
from store.models import (
    AuditEntry,
    Channel,
    Customer,
    DomainEvent,
    EventKind,
    LineStatus,
    Offer,
    OfferStatus,
    OrderLine,
    OrderPageLink,
    OutboxMessage,
    OutboxStatus,
    ReachState,
    Refund,
    Shipment,
    utcnow,
)
from store.order_links import token_for_order
from tests import factories as f
from tests.bot.web.conftest import twilio_settings
from tests.bot.web.test_agent_dashboard import PASSWORD, client_for, csrf_of, sign_in

pytestmark = pytest.mark.asyncio


@pytest.fixture
def shop(committed_db: Database) -> dict[str, int]:
    return build_shop(committed_db)


def build_shop(committed_db: Database) -> dict[str, int]:
    """Ada waits for an OVEN (open offer, a switch to OVEN-2 possible) and has a PAN reserved;
    her order has a live page link and one failed message. Bob has his own waiting order."""
    now = utcnow()
    with committed_db.session() as session:
        add_agent(session, "ada", PASSWORD, now=now)
        f.product(session, "OVEN", price_cents=25_000)
        f.product(session, "OVEN-2", stock=5, price_cents=25_000)
        f.product(session, "PAN", stock=3, price_cents=2_000)
        ada = f.customer(session, "Ada Lovelace")
        order = f.order(session, "A-7", [("OVEN", 2), ("PAN", 1)], who=ada, placed_at=now)
        token_for_order(session, order.id, b"k" * 32, now)
        bob = f.customer(session, "Bob Other")
        f.order(session, "B-1", [("OVEN", 1)], who=bob, placed_at=now)
        failed = OutboxMessage(
            dedupe_key="test:failed",
            customer_id=ada.id,
            channel=Channel.SMS,
            address=ada.phone,
            message="backorder_notice",
            locale="en",
            body="Your oven is on backorder.",
            status=OutboxStatus.FAILED,
            last_error="timed out",
        )
        session.add(failed)
        session.flush()
        lines = {
            (line.order.number, line.product.sku): line.id
            for line in session.scalars(select(OrderLine))
        }
        offers = {o.line_id: o.id for o in session.scalars(select(Offer))}
        return {
            "ada": ada.id,
            "bob": bob.id,
            "oven_line": lines[("A-7", "OVEN")],
            "pan_line": lines[("A-7", "PAN")],
            "ada_offer": offers[lines[("A-7", "OVEN")]],
            "bob_offer": offers[lines[("B-1", "OVEN")]],
            "failed": failed.id,
        }


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)
    return twilio_settings(default_phone_region="US")


@pytest_asyncio.fixture
async def agent(
    settings: Settings, committed_db: Database, shop: dict[str, int]
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(settings, committed_db)) as client:
        assert (await sign_in(client)).status_code == 303
        yield client


async def _post(
    client: httpx.AsyncClient, customer: int, path: str, **fields: str
) -> httpx.Response:
    page = await client.get(f"/agent/customers/{customer}")
    data = {"csrf": csrf_of(page.text), "confirmed": "yes", **fields}
    return await client.post(f"/agent/customers/{customer}/{path}", data=data)


def _audit(db: Database) -> list[AuditEntry]:
    with db.read_session() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def test_an_agent_applies_a_choice_as_the_customer_would_with_via_agent(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    response = await _post(agent, shop["ada"], f"offers/{shop['ada_offer']}/choice", choice="wait")
    assert response.status_code == 303  # post, redirect, get
    assert response.headers["location"] == (
        f"/agent/customers/{shop['ada']}?done=customer.offer_choice:done#actions"
    )
    with committed_db.read_session() as session:
        offer = session.get(Offer, shop["ada_offer"])
        assert offer is not None
        assert (offer.status, offer.decided_via) == (OfferStatus.ACCEPTED, "agent")
        assert offer.coupon_code is not None
        event = session.scalars(
            select(DomainEvent).where(DomainEvent.kind == EventKind.OFFER_ACCEPTED)
        ).one()
        assert event.payload["via"] == "agent"  # the customer gets the confirmation
    [entry] = [e for e in _audit(committed_db) if e.action == "customer.offer_choice"]
    assert (entry.actor, entry.subject) == ("ada", f"customer:{shop['ada']}")
    assert entry.details["choice"] == "wait"
    page = (await agent.get(response.headers["location"])).text
    assert "The choice is applied for the customer" in page


async def test_a_cancel_refunds_exactly_what_the_form_quoted(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    page = (await agent.get(f"/agent/customers/{shop['ada']}")).text
    assert "Cancel · refund $500.00" in page  # two ovens at $250
    await _post(agent, shop["ada"], f"offers/{shop['ada_offer']}/choice", choice="cancel")
    with committed_db.read_session() as session:
        refund = session.scalars(select(Refund)).one()
        assert (refund.amount_cents, refund.reason) == (50_000, "customer_choice")
        line = session.get(OrderLine, shop["oven_line"])
        assert line is not None
        assert line.status == LineStatus.CANCELLED


async def test_a_reserved_line_is_cancelled_with_its_refund_owed(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    response = await _post(agent, shop["ada"], f"lines/{shop['pan_line']}/cancel")
    assert "done=customer.line_cancelled:done" in response.headers["location"]
    with committed_db.read_session() as session:
        refund = session.scalars(select(Refund)).one()
        assert (refund.amount_cents, refund.reason, refund.line_id) == (
            2_000,
            "agent",
            shop["pan_line"],
        )
    assert any(e.action == "customer.line_cancelled" for e in _audit(committed_db))


async def test_someone_elses_offer_changes_nothing(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    # Bob's offer, through Ada's page: the same answer as an id that does not exist.
    response = await _post(
        agent, shop["ada"], f"offers/{shop['bob_offer']}/choice", choice="cancel"
    )
    assert response.headers["location"].endswith("?error=not_found#actions")
    with committed_db.read_session() as session:
        offer = session.get(Offer, shop["bob_offer"])
        assert offer is not None
        assert offer.status == OfferStatus.OPEN
        assert session.scalars(select(Refund)).first() is None
    page = (await agent.get(response.headers["location"])).text
    assert "That is not this customer" in page


async def test_every_action_form_needs_the_csrf_token(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    ada = shop["ada"]
    for path in (
        f"offers/{shop['ada_offer']}/choice",
        f"lines/{shop['pan_line']}/cancel",
        f"lines/{shop['pan_line']}/ship",
        "orders/A-7/link/revoke",
        f"outbox/{shop['failed']}/retry",
    ):
        response = await agent.post(
            f"/agent/customers/{ada}/{path}", data={"csrf": "forged", "choice": "cancel"}
        )
        # Kept for the agent and sent back to the page (see test_dashboard_fixes); nothing done.
        assert response.status_code == 303, path
        assert "done=" not in response.headers["location"], path
    assert [e.action for e in _audit(committed_db)] == ["agent.added"]
    with committed_db.read_session() as session:
        assert session.scalars(select(Refund)).first() is None


async def test_shipping_twice_from_the_same_form_ships_once(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    page = (await agent.get(f"/agent/customers/{shop['ada']}")).text
    key = re.search(r'name="key" value="([^"]+)"', page)
    assert key is not None
    assert "Ship 1" in page
    data = {"csrf": csrf_of(page), "key": key.group(1)}
    path = f"/agent/customers/{shop['ada']}/lines/{shop['pan_line']}/ship"
    first = await agent.post(path, data=data)
    second = await agent.post(path, data=data)
    assert "line_shipped:done" in first.headers["location"]
    assert "line_shipped:unchanged" in second.headers["location"]
    with committed_db.read_session() as session:
        assert len(session.scalars(select(Shipment)).all()) == 1
        line = session.get(OrderLine, shop["pan_line"])
        assert line is not None
        assert line.status == LineStatus.SHIPPED


async def test_the_ship_form_asks_for_the_carrier_and_tracking_and_the_shipment_keeps_them(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    """The customer's shipped message carries the tracking link only if the agent can type it."""
    page = (await agent.get(f"/agent/customers/{shop['ada']}")).text
    form = re.search(r'<form[^>]*lines/{}/ship".*?</form>'.format(shop["pan_line"]), page, re.S)
    assert form is not None
    names = set(re.findall(r'name="([a-z]+)"', form.group(0)))
    assert {"csrf", "key", "carrier", "tracking"} <= names
    key = re.search(r'name="key" value="([^"]+)"', form.group(0))
    assert key is not None
    data = {"csrf": csrf_of(page), "key": key.group(1), "carrier": " UPS ", "tracking": "1Z999"}
    path = f"/agent/customers/{shop['ada']}/lines/{shop['pan_line']}/ship"
    response = await agent.post(path, data=data)
    assert "line_shipped:done" in response.headers["location"]
    with committed_db.read_session() as session:
        shipment = session.scalars(select(Shipment)).one()
        assert (shipment.carrier, shipment.tracking_number) == ("UPS", "1Z999")


async def test_shipping_a_line_with_nothing_reserved_says_so(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    response = await _post(agent, shop["ada"], f"lines/{shop['oven_line']}/ship", key="k1")
    assert response.headers["location"].endswith("?error=nothing_to_ship#actions")
    with committed_db.read_session() as session:
        assert session.scalars(select(Shipment)).first() is None


async def test_revoking_the_order_link_closes_it(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    response = await _post(agent, shop["ada"], "orders/A-7/link/revoke")
    assert "link_revoked:done" in response.headers["location"]
    with committed_db.read_session() as session:
        link = session.scalars(select(OrderPageLink)).one()
        assert link.revoked_at is not None
    # Bob's order through Ada's page is not found.
    other = await _post(agent, shop["ada"], "orders/B-1/link/revoke")
    assert other.headers["location"].endswith("?error=not_found#actions")


async def test_a_failed_message_is_queued_again_and_only_the_customers_own(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    wrong = await _post(agent, shop["bob"], f"outbox/{shop['failed']}/retry")
    assert wrong.headers["location"].endswith("?error=not_found#actions")
    response = await _post(agent, shop["ada"], f"outbox/{shop['failed']}/retry")
    assert "message_retried:done" in response.headers["location"]
    with committed_db.read_session() as session:
        row = session.get(OutboxMessage, shop["failed"])
        assert row is not None
        assert row.status == OutboxStatus.PENDING
    again = await _post(agent, shop["ada"], f"outbox/{shop['failed']}/retry")
    assert again.headers["location"].endswith("?error=not_retryable#actions")
    [entry] = [e for e in _audit(committed_db) if e.action == "customer.message_retried"]
    assert entry.details["outbox_id"] == shop["failed"]


async def test_resending_the_link_queues_the_live_link_even_after_a_revoke(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    await _post(agent, shop["ada"], "orders/A-7/link/revoke")
    response = await _post(agent, shop["ada"], "orders/A-7/link/resend")
    assert "link_resent:done" in response.headers["location"]
    with committed_db.read_session() as session:
        link = session.scalars(select(OrderPageLink)).one()
        assert link.revoked_at is None  # a new link was issued for the message
        [sent] = session.scalars(
            select(OutboxMessage).where(OutboxMessage.message == "order_link_resent")
        ).all()
        assert sent.customer_id == shop["ada"]
        assert sent.channel == Channel.SMS
        assert "A-7" in sent.body
        assert "/o/" in sent.body
        assert sent.status == OutboxStatus.PENDING
    assert any(e.action == "customer.link_resent" for e in _audit(committed_db))


async def test_no_link_is_queued_to_a_customer_no_channel_reaches(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    with committed_db.session() as session:
        customer = session.get(Customer, shop["ada"])
        assert customer is not None
        customer.sms_state = ReachState.OPTED_OUT
    response = await _post(agent, shop["ada"], "orders/A-7/link/resend")
    assert response.headers["location"].endswith("?error=unreachable#actions")
    with committed_db.read_session() as session:
        query = select(OutboxMessage).where(OutboxMessage.message == "order_link_resent")
        assert session.scalars(query).first() is None
    page = (await agent.get(response.headers["location"])).text
    assert "no channel reaches this customer" in page


async def test_cancelling_a_line_whose_offer_expired_closes_that_offer(
    agent: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    with committed_db.session() as session:
        offer = session.get(Offer, shop["ada_offer"])
        assert offer is not None
        offer.expires_at = utcnow() - dt.timedelta(minutes=1)  # open, but its time is up
    page = (await agent.get(f"/agent/customers/{shop['ada']}")).text
    assert "Cancel line · refund $500.00" in page  # no choice buttons for an expired offer
    response = await _post(agent, shop["ada"], f"lines/{shop['oven_line']}/cancel")
    assert "line_cancelled:done" in response.headers["location"]
    with committed_db.read_session() as session:
        offer = session.get(Offer, shop["ada_offer"])
        assert offer is not None
        assert offer.status == OfferStatus.SUPERSEDED  # no open offer left on a cancelled line
        refund = session.scalars(select(Refund)).one()
        assert (refund.amount_cents, refund.reason) == (50_000, "agent")
