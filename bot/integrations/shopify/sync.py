"""``shopify sync``: the shop's products, stock and open orders read from Shopify, page by page.

Each page (a cursor of the Admin GraphQL connection) is applied in one transaction together
with the cursor after it (``shopify_sync_state``): a sync stopped half-way resumes after the
last page it applied, and running it again is safe because every item goes through the same
idempotent operations as the webhooks (``topics``): an order already placed changes nothing, a
product's count is set, not added. Each item is applied in a savepoint: one refused (an order
without a usable phone, a currency a product is not sold in) is counted and reported with the
reason, and the rest of the page still applies.

Products missing here are created from their variants (SKU, title, price in the shop's
currency, the product type as category); products already here keep what the shop set
(alternatives, discounts, supplier): only their inventory items and counts are taken.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.integrations.shopify.admin_client import AdminClient
from bot.integrations.shopify.mapping import Refused
from bot.integrations.shopify.topics import Config, order_created, product_updated
from store.catalog import ProductData, upsert_product
from store.db import Database
from store.errors import StoreError
from store.models import Product, utcnow
from store.tables_shopify import ShopifySyncState

__all__ = ["RESOURCES", "ShopifySync", "SyncSummary"]

# Page sizes keep each query's cost (2 + first x nodes) well under Shopify's 1,000-point cap.
PRODUCTS = """
query SyncProducts($after: String) {
  shop { currencyCode }
  products(first: 10, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      legacyResourceId title productType
      variants(first: 20) {
        nodes {
          legacyResourceId sku title price inventoryQuantity inventoryItem { legacyResourceId }
        }
      }
    }
  }
}"""
ORDERS = """
query SyncOrders($after: String) {
  orders(first: 10, after: $after, query: "status:open", sortKey: CREATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      legacyResourceId name createdAt updatedAt cancelledAt currencyCode phone email customerLocale
      customer { legacyResourceId firstName lastName defaultPhoneNumber { phoneNumber } }
      shippingAddress { name phone }
      lineItems(first: 50) { nodes { id sku name quantity currentQuantity } }
    }
  }
}"""
RESOURCES = ("products", "orders")


@dataclass(slots=True)
class SyncSummary:
    resource: str
    applied: int = 0
    refused: list[str] = field(default_factory=list)
    pages: int = 0
    resumed: bool = False


Progress = Callable[[str, int], None]


class ShopifySync:
    def __init__(
        self,
        db: Database,
        client: AdminClient,
        config: Config,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._db, self._client, self._config, self._clock = db, client, config, clock

    def run(self, resource: str, progress: Progress | None = None) -> SyncSummary:
        """Read ``resource`` to its end, from where the last pass stopped."""
        query, name = (
            (PRODUCTS, "SyncProducts") if resource == "products" else (ORDERS, "SyncOrders")
        )
        summary = SyncSummary(resource)
        cursor = self._cursor(resource)
        summary.resumed = cursor is not None
        while True:
            data = self._client.execute(name, query, {"after": cursor})
            connection = data[resource]
            page = connection["pageInfo"]
            more = bool(page["hasNextPage"])
            cursor = page["endCursor"] if more else None
            currency = (data.get("shop") or {}).get("currencyCode")
            nodes = connection["nodes"]
            apply = functools.partial(
                self._apply_page, resource=resource, nodes=nodes, currency=currency, cursor=cursor
            )
            applied, refused = self._db.transaction(apply)
            # Counted after the commit: the transaction may have run more than once.
            summary.applied += applied
            summary.refused += refused
            summary.pages += 1
            if progress is not None:
                progress(resource, len(nodes))
            if not more:
                return summary

    def _cursor(self, resource: str) -> str | None:
        with self._db.read_session() as session:
            state = session.get(ShopifySyncState, resource)
            return state.cursor if state is not None else None

    def _apply_page(
        self,
        session: Session,
        resource: str,
        nodes: list[dict[str, Any]],
        currency: str | None,
        cursor: str | None,
    ) -> tuple[int, list[str]]:
        now = self._clock()
        applied, refused = 0, []
        for node in nodes:
            try:
                with session.begin_nested():
                    if resource == "products":
                        self._product(session, node, currency, now)
                    else:
                        order_created(session, order_payload(node), self._config, now)
                applied += 1
            except (Refused, StoreError) as exc:
                refused.append(f"{resource[:-1]} {node.get('legacyResourceId')}: {exc}")
        state = session.get(ShopifySyncState, resource) or ShopifySyncState(
            resource=resource, items=0, refused=0
        )
        state.items = (state.items if state.cursor else 0) + applied
        state.refused = (state.refused if state.cursor else 0) + len(refused)
        state.cursor, state.updated_at = cursor, now
        state.finished_at = None if cursor else now
        session.add(state)
        return applied, refused

    def _product(
        self, session: Session, node: dict[str, Any], currency: str | None, now: dt.datetime
    ) -> None:
        variants = [v for v in node["variants"]["nodes"] if v.get("sku")]
        known = set(
            session.scalars(
                select(Product.sku).where(Product.sku.in_([v["sku"] for v in variants]))
            )
        )
        for variant in variants:
            if variant["sku"] not in known:
                upsert_product(session, _product_data(node, variant, currency), now)
        product_updated(session, product_payload(node), self._config, now)


def _product_data(
    node: dict[str, Any], variant: dict[str, Any], currency: str | None
) -> ProductData:
    if not currency:
        raise Refused("the shop's currency is unknown")
    title = str(node.get("title") or variant["sku"])
    if variant.get("title") and variant["title"] != "Default Title":
        title = f"{title} - {variant['title']}"
    try:
        price = Decimal(str(variant.get("price")))
    except InvalidOperation:
        raise Refused(f"variant {variant['sku']} has no usable price") from None
    return ProductData(
        sku=str(variant["sku"]),
        name=title[:200],
        price_cents=int(price.scaleb(get_currency_precision(currency))),
        category=str(node.get("productType") or "shopify")[:64],
        stock_on_hand=0,  # the count comes next, through product_updated, as for a webhook
        supplier=None,
        currency=currency,
    )


def product_payload(node: dict[str, Any]) -> dict[str, Any]:
    """The GraphQL product in the REST shape of a ``products/update`` webhook."""
    return {
        "id": int(node["legacyResourceId"]),
        "variants": [
            {
                "id": int(v["legacyResourceId"]),
                "sku": v.get("sku"),
                "inventory_item_id": int(v["inventoryItem"]["legacyResourceId"]),
                "inventory_quantity": v.get("inventoryQuantity"),
            }
            for v in node["variants"]["nodes"]
            if v.get("sku")
        ],
    }


def order_payload(node: dict[str, Any]) -> dict[str, Any]:
    """The GraphQL order in the REST shape of an ``orders/create`` webhook."""
    customer = node.get("customer") or {}
    phone = (customer.get("defaultPhoneNumber") or {}).get("phoneNumber")
    return {
        "id": int(node["legacyResourceId"]),
        "name": node.get("name"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "cancelled_at": node.get("cancelledAt"),
        "currency": node.get("currencyCode"),
        "phone": node.get("phone"),
        "email": node.get("email"),
        "customer_locale": node.get("customerLocale"),
        "customer": {
            "id": int(customer["legacyResourceId"]) if customer.get("legacyResourceId") else None,
            "first_name": customer.get("firstName"),
            "last_name": customer.get("lastName"),
            "phone": phone,
        },
        "shipping_address": node.get("shippingAddress") or {},
        "line_items": [
            {
                "id": item["id"],
                "sku": item.get("sku"),
                "name": item.get("name"),
                "quantity": item.get("quantity"),
                "current_quantity": item.get("currentQuantity"),
            }
            for item in node["lineItems"]["nodes"]
        ],
    }
