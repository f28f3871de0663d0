"""An agent's cancel outside any offer reaches Shopify like a customer's cancel does."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.agents import acting
from bot.integrations.shopify.admin_client import AdminClient
from bot.integrations.shopify.writeback import WriteBack
from bot.web import create_app
from store.db import Database
from store.models import LineStatus, Offer, OrderLine, Product, utcnow
from store.policy import Policy
from tests import factories as f
from tests.bot.integrations.shopify import harness as h
from tests.bot.integrations.shopify.fake_admin import FakeAdmin
from tests.bot.integrations.shopify.test_writeback import SHOPIFY_ID, jobs, place, stock

API_TOKEN = "agent-api-token-0123456789abcdef"


def agent_cancels(db: Database, sku: str) -> None:
    with db.session() as session:
        line = session.scalars(select(OrderLine).join(Product).where(Product.sku == sku)).one()
        assert session.scalars(select(Offer).where(Offer.line_id == line.id)).first() is None
        acting.cancel(
            session,
            line.order.customer_id,
            line.id,
            agent="ana",
            now=utcnow(),
            policy=Policy(),
        )


def test_an_agent_cancelling_the_whole_order_cancels_it_in_shopify_with_the_refund(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient
) -> None:
    stock(committed_db, TEA=5)  # allocated at once: no offer, the agent's own cancel
    place(committed_db, fake_admin, [("TEA", 2)])
    agent_cancels(committed_db, "TEA")
    summary = WriteBack(committed_db, admin_client).run_due()
    assert (summary.done, summary.dead) == (2, 0), summary.errors
    order = fake_admin.shop.order(SHOPIFY_ID)
    assert order.cancelled is not None
    assert order.cancelled["refundMethod"] == {"originalPaymentMethodsRefund": True}
    assert "refund promised: 200.00 USD" in order.cancelled["staffNote"]
    assert order.tags == ["backorder-cancel"]


def test_an_agent_cancelling_one_line_of_several_edits_it_out(
    committed_db: Database, fake_admin: FakeAdmin, admin_client: AdminClient
) -> None:
    stock(committed_db, TEA=5, POT=5)
    place(committed_db, fake_admin, [("TEA", 1), ("POT", 1)])
    agent_cancels(committed_db, "TEA")
    summary = WriteBack(committed_db, admin_client).run_due()
    assert (summary.done, summary.dead) == (2, 0), summary.errors
    order = fake_admin.shop.order(SHOPIFY_ID)
    assert order.cancelled is None
    assert {(line.sku, line.quantity) for line in order.lines} == {("TEA", 0), ("POT", 1)}
    assert order.note is not None
    assert "TEA x1 -> cancel" in order.note
    with committed_db.read_session() as session:
        statuses = set(session.scalars(select(OrderLine.status)))
    assert statuses == {LineStatus.CANCELLED, LineStatus.ALLOCATED}


def test_an_agent_cancel_on_an_order_not_from_shopify_owes_shopify_nothing(
    committed_db: Database,
) -> None:
    with committed_db.session() as session:
        f.product(session, "TEA", stock=5)
        f.order(session, "#5001", [("TEA", 1)], placed_at=utcnow())
    agent_cancels(committed_db, "TEA")
    assert jobs(committed_db) == []


@pytest.mark.asyncio
async def test_a_cancel_through_the_json_api_is_written_back(
    committed_db: Database,
    fake_admin: FakeAdmin,
    admin_client: AdminClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    stock(committed_db, TEA=5)
    place(committed_db, fake_admin, [("TEA", 2)])
    with committed_db.read_session() as session:
        line = session.scalars(select(OrderLine)).one()
        customer_id, line_id = line.order.customer_id, line.id
    app = create_app(h.settings(agent_api_token=API_TOKEN), committed_db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.post(
            f"/api/customers/{customer_id}/lines/{line_id}/cancel",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
    assert answer.status_code == 200, answer.text
    summary = WriteBack(committed_db, admin_client).run_due()
    assert (summary.done, summary.dead) == (2, 0), summary.errors
    assert fake_admin.shop.order(SHOPIFY_ID).cancelled is not None
