"""``customers/update`` and ``customers_marketing_consent/update`` keep our customer true.

Payloads are Shopify's documented samples (2026-07, ``fixtures/``) with our values put in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.web import create_app
from store.consent import may_market_by_sms
from store.db import Database
from store.models import Customer, ReachState, ShopifyOutcome, ShopifyWebhook
from store.tables_consent import MarketingState, SmsMarketingConsent
from tests import factories as f
from tests.bot.integrations.shopify import harness as h

pytestmark = pytest.mark.asyncio

PATH = "/webhooks/shopify"
# The customer of the orders/create sample: the order places them here with this Shopify id.
CUSTOMER_ID = 115310627314723954
NEW_PHONE = "+14155550199"


@pytest_asyncio.fixture
async def shop(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.chdir(tmp_path)
    app = create_app(h.settings(), committed_db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with committed_db.session() as session:
            f.product(session, "TEA", stock=5, eta=dt.date(2026, 12, 20))
        order = h.order([("TEA", 1)])
        order["customer"]["id"] = CUSTOMER_ID  # the sample's id lost precision (fixtures/)
        body, headers = h.signed(order, "orders/create")
        assert (await client.post(PATH, content=body, headers=headers)).status_code == 200
        yield client


async def deliver(client: httpx.AsyncClient, payload: dict[str, Any], topic: str) -> str:
    body, headers = h.signed(payload, topic)
    answer = await client.post(PATH, content=body, headers=headers)
    assert answer.status_code == 200
    outcome: str = answer.json()["outcome"]
    return outcome


def customer(db: Database) -> Customer:
    with db.read_session() as session:
        return session.scalars(select(Customer)).one()


def consent(payload_state: str, updated_at: str) -> dict[str, Any]:
    data = h.sample("customers_marketing_consent/update")
    data["id"] = CUSTOMER_ID
    data["phone"] = h.PHONE
    data["sms_marketing_consent"].update(
        state=payload_state, opt_in_level="single_opt_in", consent_updated_at=updated_at
    )
    return data


async def test_a_new_phone_in_shopify_becomes_ours(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    payload = h.sample("customers/update")
    payload.update(id=CUSTOMER_ID, phone=NEW_PHONE)
    assert await deliver(shop, payload, "customers/update") == "handled"
    assert customer(committed_db).phone == NEW_PHONE


async def test_a_withdrawn_sms_consent_opts_the_customer_out_of_marketing(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    given = consent("subscribed", "2026-11-01T10:00:00-05:00")
    assert await deliver(shop, given, "customers_marketing_consent/update") == "handled"
    cust = customer(committed_db)
    with committed_db.read_session() as session:
        assert may_market_by_sms(session, cust.id)
    withdrawn = consent("unsubscribed", "2026-11-02T10:00:00-05:00")
    assert await deliver(shop, withdrawn, "customers_marketing_consent/update") == "handled"
    with committed_db.read_session() as session:
        assert not may_market_by_sms(session, cust.id)
        row = session.get_one(SmsMarketingConsent, cust.id)
        assert row.state is MarketingState.UNSUBSCRIBED
    # Marketing only: the messages about their own order still reach them.
    assert customer(committed_db).sms_state is ReachState.ACTIVE


async def test_an_older_consent_update_changes_nothing(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    await deliver(
        shop, consent("unsubscribed", "2026-11-02T10:00:00Z"), "customers_marketing_consent/update"
    )
    await deliver(
        shop, consent("subscribed", "2026-11-01T10:00:00Z"), "customers_marketing_consent/update"
    )
    with committed_db.read_session() as session:
        assert not may_market_by_sms(session, customer(committed_db).id)


async def test_an_older_api_versions_customer_update_carries_consent_and_locale(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    """Before 2025-01 ``customers/update`` had ``sms_marketing_consent`` (Shopify's changelog
    "New customer's webhook and changes to existing customer's webhooks payload")."""
    payload = h.sample("customers/update")
    payload.update(id=CUSTOMER_ID, phone=h.PHONE, locale="es-MX")
    payload["sms_marketing_consent"] = consent("unsubscribed", "2026-11-02T10:00:00Z")[
        "sms_marketing_consent"
    ]
    assert await deliver(shop, payload, "customers/update") == "handled"
    cust = customer(committed_db)
    assert cust.locale == "es-MX"
    with committed_db.read_session() as session:
        assert not may_market_by_sms(session, cust.id)


async def test_a_customer_never_seen_here_is_ignored(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    payload = h.sample("customers/update")  # the sample's own customer, phone null
    assert await deliver(shop, payload, "customers/update") == "ignored"
    with committed_db.read_session() as session:
        assert len(session.scalars(select(Customer)).all()) == 1


async def test_a_phone_another_customer_has_is_refused_and_changes_nothing(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    with committed_db.session() as session:
        f.customer(session, phone=NEW_PHONE)
    payload = h.sample("customers/update")
    payload.update(id=CUSTOMER_ID, phone=NEW_PHONE, locale="es")
    assert await deliver(shop, payload, "customers/update") == "refused"
    with committed_db.read_session() as session:
        ours = session.scalars(select(Customer).where(Customer.external_ref.is_not(None))).one()
        assert (ours.phone, ours.locale) == (h.PHONE, "en")
        row = session.scalars(select(ShopifyWebhook).order_by(ShopifyWebhook.id.desc())).first()
        assert row is not None
        assert row.outcome is ShopifyOutcome.REFUSED
        assert row.reason is not None
        assert "another customer" in row.reason
