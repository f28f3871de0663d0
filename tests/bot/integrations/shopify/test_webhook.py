"""``POST /webhooks/shopify`` on the real app: signature, exactly-once, what each topic does."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.integrations.shopify import topics
from bot.settings import Settings
from bot.web import create_app
from messaging.notifier import ShopVoice, notify_pending
from store.db import Database
from store.models import (
    Customer,
    DomainEvent,
    LineStatus,
    Order,
    OrderLine,
    OutboxMessage,
    Refund,
    Shipment,
    ShopifyOutcome,
    ShopifyWebhook,
)
from tests import factories as f
from tests.bot.integrations.shopify import harness as h

PATH = "/webhooks/shopify"
NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def shop_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env
    return h.settings()


@pytest_asyncio.fixture
async def shop(committed_db: Database, shop_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(shop_settings, committed_db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def deliver(
    client: httpx.AsyncClient, payload: dict[str, Any], topic: str, **kwargs: Any
) -> httpx.Response:
    body, headers = h.signed(payload, topic, **kwargs)
    return await client.post(PATH, content=body, headers=headers)


def count(db: Database, model: Any) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def webhook_rows(db: Database) -> list[ShopifyWebhook]:
    with db.read_session() as session:
        return list(session.scalars(select(ShopifyWebhook).order_by(ShopifyWebhook.id)))


def nothing_written(db: Database) -> bool:
    return all(count(db, m) == 0 for m in (ShopifyWebhook, Order, Customer, DomainEvent))


def products(db: Database, **stock: int) -> None:
    with db.session() as session:
        for sku, units in stock.items():
            f.product(session, sku, stock=units, eta=dt.date(2026, 12, 1))


def lines_of(session: Session, number: str) -> dict[str, OrderLine]:
    order = session.scalars(select(Order).where(Order.number == number)).one()
    return {line.product.sku: line for line in order.lines}


# --- verification -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_it_refuses_a_tampered_body_and_writes_nothing(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    products(committed_db, TEA=0)
    body, headers = h.signed(h.order([("TEA", 1)]), "orders/create")
    tampered = body.replace(b'"quantity": 1', b'"quantity": 9')
    assert tampered != body
    response = await shop.post(PATH, content=tampered, headers=headers)
    assert response.status_code == 401
    assert nothing_written(committed_db)


@pytest.mark.asyncio
async def test_it_refuses_another_secret_and_a_missing_header(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    products(committed_db, TEA=0)
    body, headers = h.signed(h.order([("TEA", 1)]), "orders/create", secret="another-secret")
    assert (await shop.post(PATH, content=body, headers=headers)).status_code == 401
    del headers["X-Shopify-Hmac-Sha256"]
    assert (await shop.post(PATH, content=body, headers=headers)).status_code == 401
    headers["X-Shopify-Hmac-Sha256"] = "not base64!"
    assert (await shop.post(PATH, content=body, headers=headers)).status_code == 401
    assert nothing_written(committed_db)


@pytest.mark.asyncio
async def test_it_refuses_a_signed_webhook_from_another_shop(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    products(committed_db, TEA=0)
    body, headers = h.signed(h.order([("TEA", 1)]), "orders/create")
    headers["X-Shopify-Shop-Domain"] = "other.myshopify.com"
    assert (await shop.post(PATH, content=body, headers=headers)).status_code == 401
    assert nothing_written(committed_db)


@pytest.mark.asyncio
async def test_it_answers_503_when_no_secret_is_configured(
    committed_db: Database, shop_settings: Settings
) -> None:
    app = create_app(
        shop_settings.model_copy(update={"shopify_webhook_secret": None}), committed_db
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await deliver(client, h.order([("TEA", 1)]), "orders/create")
    assert response.status_code == 503
    assert "SHOPIFY_WEBHOOK_SECRET" in response.json()["detail"]
    assert nothing_written(committed_db)


# --- orders -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_order_without_stock_is_backordered_and_the_customer_told(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    products(committed_db, TEA=0, POT=3)
    response = await deliver(shop, h.order([("TEA", 2), ("POT", 1)]), "orders/create")
    assert response.status_code == 200
    assert response.json() == {"outcome": "handled"}
    with committed_db.session() as session:
        lines = lines_of(session, "#9999")
        assert lines["TEA"].status == LineStatus.BACKORDERED
        assert lines["TEA"].backordered_quantity == 2
        assert lines["POT"].status == LineStatus.ALLOCATED
        notify_pending(session, ShopVoice("Casa Test", "help@casa.test"), NOW)
        told = session.scalars(select(OutboxMessage)).all()
    assert [(m.message, m.address) for m in told] == [("backorder_notice", h.PHONE)]


@pytest.mark.asyncio
async def test_the_same_order_again_under_another_webhook_id_changes_nothing(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    products(committed_db, TEA=0)
    payload = h.order([("TEA", 1)])
    assert (await deliver(shop, payload, "orders/create")).json() == {"outcome": "handled"}
    assert (await deliver(shop, payload, "orders/create")).json() == {"outcome": "handled"}
    assert count(committed_db, Order) == 1
    assert count(committed_db, DomainEvent) == 1
    assert [w.reason for w in webhook_rows(committed_db)] == [None, "already placed"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"phone": None}, "no usable phone number"),
        ({"phone": "555-555-SHIP"}, "no usable phone number"),
        ({"currency": "EUR"}, "order in EUR; TEA is sold here in USD"),
        ({"lines": [("TEA", 1), ("NOPE", 1)]}, "unknown SKU: NOPE"),
    ],
)
@pytest.mark.asyncio
async def test_an_order_we_cannot_place_is_refused_recorded_and_answered_200(
    shop: httpx.AsyncClient, committed_db: Database, change: dict[str, Any], reason: str
) -> None:
    products(committed_db, TEA=0)
    payload = h.order(change.pop("lines", [("TEA", 1)]), **change)
    response = await deliver(shop, payload, "orders/create")
    assert response.status_code == 200  # Shopify stops retrying what cannot succeed
    assert response.json() == {"outcome": "refused"}
    [row] = webhook_rows(committed_db)
    assert row.outcome == ShopifyOutcome.REFUSED
    assert row.reason is not None
    assert reason in row.reason
    assert row.topic == "orders/create"
    assert row.resource_id == str(payload["id"])  # which Shopify order it was
    assert all(count(committed_db, m) == 0 for m in (Order, Customer, DomainEvent))


@pytest.mark.asyncio
async def test_shopifys_own_sample_order_is_refused_for_want_of_a_phone(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    payload = h.sample("orders/create")
    payload["cancelled_at"] = None  # the documented sample is a cancelled order
    for sku in {item["sku"] for item in payload["line_items"]}:
        products(committed_db, **{sku: 5})
    assert (await deliver(shop, payload, "orders/create")).json() == {"outcome": "refused"}
    [row] = webhook_rows(committed_db)
    assert row.reason == "the customer has no usable phone number (1 given, none valid)"


@pytest.mark.asyncio
async def test_a_cancelled_order_cancels_open_lines_with_a_shopify_refund(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    products(committed_db, TEA=0, POT=1)
    payload = h.order([("TEA", 1), ("POT", 1)])
    await deliver(shop, payload, "orders/create")
    cancelled = h.sample("orders/cancelled")
    cancelled.update(id=payload["id"], updated_at="2026-11-01T10:00:00-05:00")
    assert (await deliver(shop, cancelled, "orders/cancelled")).json() == {"outcome": "handled"}
    with committed_db.session() as session:
        lines = lines_of(session, "#9999")
        assert {line.status for line in lines.values()} == {LineStatus.CANCELLED}
        refunds = session.scalars(select(Refund)).all()
        assert sorted(r.reason for r in refunds) == ["shopify", "shopify"]
        assert lines["POT"].product.stock_on_hand == 1  # back on the shelf


@pytest.mark.asyncio
async def test_an_orders_updated_older_than_what_we_hold_changes_nothing(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    products(committed_db, TEA=0)
    payload = h.order([("TEA", 1)], created_at="2026-11-01T10:00:00-05:00")
    await deliver(shop, payload, "orders/create")
    older = {**payload, "updated_at": "2026-11-01T09:59:00-05:00", "cancelled_at": "2026-11-01"}
    assert (await deliver(shop, older, "orders/updated")).json() == {"outcome": "stale"}
    with committed_db.session() as session:
        assert lines_of(session, "#9999")["TEA"].status == LineStatus.BACKORDERED


@pytest.mark.asyncio
async def test_an_orders_updated_with_an_edited_quantity_is_refused(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    products(committed_db, TEA=0)
    payload = h.order([("TEA", 2)])
    await deliver(shop, payload, "orders/create")
    edited = h.order([("TEA", 1)])
    edited["updated_at"] = "2026-11-01T11:00:00-05:00"
    assert (await deliver(shop, edited, "orders/updated")).json() == {"outcome": "refused"}
    assert "order edits are not applied yet" in (webhook_rows(committed_db)[-1].reason or "")
    unchanged = {**payload, "updated_at": "2026-11-01T12:00:00-05:00", "tags": "vip"}
    assert (await deliver(shop, unchanged, "orders/updated")).json() == {"outcome": "handled"}


# --- fulfillments and stock ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_fulfillment_ships_the_lines_with_tracking_and_the_customer_is_told(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    products(committed_db, TEA=2, POT=1)
    payload = h.order([("TEA", 2), ("POT", 1)])
    await deliver(shop, payload, "orders/create")
    shipped = h.fulfillment(payload["id"], [("TEA", 2), ("POT", 1)])
    assert (await deliver(shop, shipped, "fulfillments/create")).json() == {"outcome": "handled"}
    with committed_db.session() as session:
        assert {line.status for line in lines_of(session, "#9999").values()} == {LineStatus.SHIPPED}
        [shipment] = session.scalars(select(Shipment)).all()
        assert (shipment.carrier, shipment.tracking_number) == ("UPS", "1z827wk74630")
        assert shipment.tracking_url == shipped["tracking_url"]
        notify_pending(session, ShopVoice("Casa Test", "help@casa.test"), NOW)
        told = session.scalars(select(OutboxMessage)).all()
    assert [m.message for m in told] == ["shipped"]
    assert "1z827wk74630" in told[0].body


@pytest.mark.asyncio
async def test_a_fulfillment_of_units_not_reserved_is_refused_whole(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    products(committed_db, TEA=0, POT=1)
    payload = h.order([("TEA", 1), ("POT", 1)])
    await deliver(shop, payload, "orders/create")
    shipped = h.fulfillment(payload["id"], [("POT", 1), ("TEA", 1)])
    assert (await deliver(shop, shipped, "fulfillments/create")).json() == {"outcome": "refused"}
    assert count(committed_db, Shipment) == 0  # not even the POT that could have shipped


@pytest.mark.asyncio
async def test_stock_in_shopify_allocates_the_waiting_lines_oldest_first(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    products(committed_db, TEA=0)
    product = h.sample("products/update")
    product["variants"][0].update(sku="TEA", inventory_item_id=271878346596884015)
    product["variants"][0]["inventory_quantity"] = 0
    product["variants"] = product["variants"][:1]
    assert (await deliver(shop, product, "products/update")).json() == {"outcome": "handled"}
    newer = h.order(
        [("TEA", 1)],
        shopify_id=2,
        name="#1002",
        phone="+14155550124",
        created_at="2026-11-01T10:00:00-05:00",
    )
    older = h.order(
        [("TEA", 1)], shopify_id=1, name="#1001", created_at="2026-11-01T09:00:00-05:00"
    )
    await deliver(shop, newer, "orders/create")
    await deliver(shop, older, "orders/create")
    level = h.sample("inventory_levels/update")
    level.update(inventory_item_id=271878346596884015, available=1)
    assert (await deliver(shop, level, "inventory_levels/update")).json() == {"outcome": "handled"}
    with committed_db.session() as session:
        assert lines_of(session, "#1001")["TEA"].status == LineStatus.ALLOCATED
        assert lines_of(session, "#1002")["TEA"].status == LineStatus.BACKORDERED


@pytest.mark.asyncio
async def test_stock_of_an_item_not_mapped_to_a_sku_is_refused(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    level = h.sample("inventory_levels/update")
    assert (await deliver(shop, level, "inventory_levels/update")).json() == {"outcome": "refused"}
    assert "maps to no SKU" in (webhook_rows(committed_db)[0].reason or "")


@pytest.mark.asyncio
async def test_app_uninstalled_is_recorded_and_other_topics_ignored(
    shop: httpx.AsyncClient, committed_db: Database
) -> None:
    assert (await deliver(shop, h.sample("app/uninstalled"), "app/uninstalled")).json() == {
        "outcome": "handled"
    }
    assert (await deliver(shop, {"id": 1}, "customers/update")).json() == {"outcome": "ignored"}
    assert [(w.topic, w.outcome) for w in webhook_rows(committed_db)] == [
        ("app/uninstalled", ShopifyOutcome.HANDLED),
        ("customers/update", ShopifyOutcome.IGNORED),
    ]


@pytest.mark.asyncio
async def test_a_unique_violation_from_a_concurrent_webhook_is_run_again(
    shop: httpx.AsyncClient, committed_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two webhooks creating the same new customer at once: the loser's insert violates the
    unique index (PostgreSQL); its transaction is run again and finds the winner's row."""
    products(committed_db, TEA=0)
    real = topics.HANDLERS["orders/create"]
    calls = []

    def racing(session: Session, *args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("INSERT INTO customers", {}, Exception("unique"))
        return real(session, *args)

    monkeypatch.setitem(topics.HANDLERS, "orders/create", racing)
    response = await deliver(shop, h.order([("TEA", 1)]), "orders/create")
    assert response.json() == {"outcome": "handled"}
    assert len(calls) == 2
    assert count(committed_db, Order) == 1
    assert count(committed_db, ShopifyWebhook) == 1
