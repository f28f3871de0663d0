"""``shopify sync``: products, stock and open orders, page by page, resumable, safe again."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.integrations.shopify.admin_client import AdminClient
from bot.integrations.shopify.sync import ShopifySync
from bot.integrations.shopify.topics import Config
from store.db import Database
from store.models import LineStatus, Order, OrderLine, Product, ShopifyInventoryItem
from store.policy import Policy
from store.tables_shopify import ShopifySyncState
from tests import factories as f
from tests.bot.integrations.shopify.fake_admin import FakeAdmin
from tests.bot.test_cli import _run


def product_node(n: int, *, quantity: int = 3) -> dict[str, Any]:
    return {
        "legacyResourceId": str(7000 + n),
        "title": f"Tea {n}",
        "productType": "tea",
        "variants": {
            "nodes": [
                {
                    "legacyResourceId": str(8000 + n),
                    "sku": f"TEA-{n}",
                    "title": "Default Title",
                    "price": "12.50",
                    "inventoryQuantity": quantity,
                    "inventoryItem": {"legacyResourceId": str(9000 + n)},
                }
            ]
        },
    }


def order_node(n: int, sku: str, *, phone: str | None = "+14155550123") -> dict[str, Any]:
    return {
        "legacyResourceId": str(5000 + n),
        "name": f"#{1000 + n}",
        "createdAt": "2026-11-01T09:00:00Z",
        "updatedAt": "2026-11-01T09:00:00Z",
        "cancelledAt": None,
        "currencyCode": "USD",
        "phone": None,
        "email": "ada@example.com",
        "customerLocale": "en",
        "customer": {
            "legacyResourceId": str(600 + n),
            "firstName": "Ada",
            "lastName": "Lovelace",
            "defaultPhoneNumber": {"phoneNumber": phone} if phone else None,
        },
        "shippingAddress": None,
        "lineItems": {
            "nodes": [
                {
                    "id": f"gid://shopify/LineItem/{n}",
                    "sku": sku,
                    "name": sku,
                    "quantity": 1,
                    "currentQuantity": 1,
                }
            ]
        },
    }


@pytest.fixture
def syncer(committed_db: Database, admin_client: AdminClient) -> ShopifySync:
    return ShopifySync(committed_db, admin_client, Config(Policy()))


def count(db: Database, model: Any) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


class Crash(Exception):
    pass


def test_products_are_imported_with_their_stock_and_items_mapped(
    committed_db: Database, fake_admin: FakeAdmin, syncer: ShopifySync
) -> None:
    with committed_db.session() as session:
        f.product(session, "POT", stock=5)
        f.product(session, "TEA-1", stock=0, price_cents=999, alternatives=("POT",))
    fake_admin.shop.products = [product_node(n) for n in range(1, 13)]
    summary = syncer.run("products")
    assert (summary.applied, summary.refused, summary.pages) == (12, [], 2)
    with committed_db.read_session() as session:
        made = session.scalars(select(Product).where(Product.sku == "TEA-7")).one()
        assert (made.name, made.price_cents, made.currency, made.category) == (
            "Tea 7",
            1250,
            "USD",
            "tea",
        )
        assert made.stock_on_hand == 3
        kept = session.scalars(select(Product).where(Product.sku == "TEA-1")).one()
        assert kept.price_cents == 999  # the shop's own product is not overwritten
        assert [a.alternative.sku for a in kept.alternatives] == ["POT"]
        assert kept.stock_on_hand == 3  # but its count is Shopify's
    assert count(committed_db, ShopifyInventoryItem) == 12
    again = syncer.run("products")
    assert (again.applied, again.resumed) == (12, False)
    assert count(committed_db, Product) == 13


def test_a_sync_stopped_half_way_resumes_after_the_last_page_applied(
    committed_db: Database, fake_admin: FakeAdmin, syncer: ShopifySync
) -> None:
    fake_admin.shop.products = [product_node(n) for n in range(1, 26)]

    def crash_after_first_page(resource: str, items: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        syncer.run("products", crash_after_first_page)
    assert count(committed_db, Product) == 10
    with committed_db.read_session() as session:
        state = session.get(ShopifySyncState, "products")
        assert state is not None
        assert (state.cursor, state.items, state.finished_at) == ("10", 10, None)
    resumed = syncer.run("products")
    assert (resumed.resumed, resumed.pages, resumed.applied) == (True, 2, 15)
    assert count(committed_db, Product) == 25
    with committed_db.read_session() as session:
        state = session.get(ShopifySyncState, "products")
        assert state is not None
        assert (state.cursor, state.items) == (None, 25)
        assert state.finished_at is not None


def test_open_orders_are_placed_once_and_a_refusal_is_reported(
    committed_db: Database, fake_admin: FakeAdmin, syncer: ShopifySync
) -> None:
    with committed_db.session() as session:
        f.product(session, "TEA", stock=0)
    fake_admin.shop.open_orders = [order_node(1, "TEA"), order_node(2, "TEA", phone=None)]
    summary = syncer.run("orders")
    assert summary.applied == 1
    [refused] = summary.refused
    assert refused.startswith("order 5002:")
    assert "phone" in refused
    with committed_db.read_session() as session:
        line = session.scalars(select(OrderLine)).one()
        assert line.status == LineStatus.BACKORDERED
    assert syncer.run("orders").applied == 1  # again: "already placed", nothing doubled
    assert count(committed_db, Order) == 1


def test_the_cli_syncs_with_a_summary(shop_env: Database, fake_admin: FakeAdmin) -> None:
    fake_admin.shop.products = [product_node(n) for n in range(1, 4)]
    result = _run("shopify", "sync")
    assert result.exit_code == 0, result.output
    assert "products: 3 applied, 0 refused, 1 pages." in result.output
    assert "orders: 0 applied, 0 refused, 1 pages." in result.output
    assert _run("shopify", "sync", "--only", "nothing").exit_code == 2
