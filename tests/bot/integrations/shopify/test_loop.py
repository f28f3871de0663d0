"""The whole loop with a shop on Shopify, over real HTTP on both sides.

Shopify order webhook -> backorder -> customer told -> the customer texts 1 (wait) -> a discount
code in the fake Shopify -> stock arrives in Shopify (inventory_levels/update) -> the line is
allocated -> fulfillments/create -> the customer is told it shipped.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.integrations.shopify.admin_client import AdminClient
from bot.integrations.shopify.writeback import WriteBack
from bot.web import create_app
from messaging.notifier import ShopVoice, notify_pending
from store.db import Database
from store.models import LineStatus, Offer, OfferChoice, OrderLine, OutboxMessage, utcnow
from tests import factories as f
from tests import twilio_signing
from tests.bot.integrations.shopify import harness as h
from tests.bot.integrations.shopify.fake_admin import FakeAdmin
from tests.bot.integrations.shopify.fake_shop import order_from_webhook

INVENTORY_ITEM = 271878346596884015
VOICE = ShopVoice("Casa Test", "help@casa.test")


@pytest_asyncio.fixture
async def app_client(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.chdir(tmp_path)
    app = create_app(h.settings(), committed_db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def webhook(client: httpx.AsyncClient, payload: dict[str, Any], topic: str) -> str:
    body, headers = h.signed(payload, topic)
    response = await client.post("/webhooks/shopify", content=body, headers=headers)
    assert response.status_code == 200
    return str(response.json()["outcome"])


async def text_from_customer(client: httpx.AsyncClient, body: str) -> None:
    sid = "SM" + secrets.token_hex(16)
    params = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", "AC" + "0" * 32),
        ("From", h.PHONE),
        ("To", "+14155550100"),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    url = "https://shop.example/webhooks/twilio/sms"
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signing.sign(url, params, "test-token"),
    }
    response = await client.post("/webhooks/twilio/sms", content=urlencode(params), headers=headers)
    assert response.status_code == 200


def told(db: Database) -> list[str]:
    """What the customer has been sent so far (queued to the outbox), in order."""
    with db.session() as session:
        notify_pending(session, VOICE, utcnow())
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.address == h.PHONE).order_by(OutboxMessage.id)
        ).all()
        return [row.message for row in rows]


def tea_line(db: Database) -> OrderLine:
    with db.read_session() as session:
        line = session.scalars(select(OrderLine)).one()
        session.expunge(line)
        return line


@pytest.mark.asyncio
async def test_a_shopify_order_waits_gets_a_real_code_and_ships(
    app_client: httpx.AsyncClient,
    committed_db: Database,
    fake_admin: FakeAdmin,
    admin_client: AdminClient,
) -> None:
    with committed_db.session() as session:
        f.product(session, "TEA", stock=0, eta=dt.date(2026, 12, 20))
    product = h.sample("products/update")
    product["variants"] = product["variants"][:1]
    product["variants"][0].update(sku="TEA", inventory_item_id=INVENTORY_ITEM, inventory_quantity=0)
    assert await webhook(app_client, product, "products/update") == "handled"

    order = h.order([("TEA", 1)])
    order_from_webhook(fake_admin.shop, order)
    assert await webhook(app_client, order, "orders/create") == "handled"
    assert tea_line(committed_db).status == LineStatus.BACKORDERED
    assert told(committed_db) == ["backorder_notice"]

    await text_from_customer(app_client, "1")
    with committed_db.read_session() as session:
        assert session.scalars(select(Offer.choice)).one() == OfferChoice.WAIT
    code = tea_line(committed_db).coupon_code
    assert code is not None
    assert fake_admin.shop.discounts == {}  # owed, not yet sent: nothing waits on Shopify

    summary = WriteBack(committed_db, admin_client).run_due()
    assert (summary.done, summary.dead) == (2, 0), summary.errors
    discount = fake_admin.shop.discounts[code]
    assert discount["context"] == {
        "customers": {"add": [order["customer"]["admin_graphql_api_id"]]}
    }
    assert discount["usageLimit"] == 1
    assert fake_admin.shop.order(order["id"]).tags == ["backorder-wait"]

    level = h.sample("inventory_levels/update")
    level.update(inventory_item_id=INVENTORY_ITEM, available=1)
    assert await webhook(app_client, level, "inventory_levels/update") == "handled"
    assert tea_line(committed_db).status == LineStatus.ALLOCATED

    shipped = h.fulfillment(order["id"], [("TEA", 1)])
    assert await webhook(app_client, shipped, "fulfillments/create") == "handled"
    assert tea_line(committed_db).status == LineStatus.SHIPPED
    messages = told(committed_db)
    assert messages == ["backorder_notice", "wait_confirmed", "ready_to_ship", "shipped"]
    assert WriteBack(committed_db, admin_client).run_due().worked == 0  # nothing more owed
