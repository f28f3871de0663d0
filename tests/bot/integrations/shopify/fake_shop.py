"""The fake Shopify's data and resolvers: orders, variants, discount codes, webhook subscriptions.

Resolvers return plain dicts; graphql-core executes the operation against Shopify's schema
over them (``fake_admin``), so a dict may hold more than was asked and only the selection is
answered. Abstract types (``Node``) carry ``__typename``. Each mutation does what its Shopify
namesake documents for the arguments we use, and answers ``userErrors`` where Shopify would
(a code already taken, an order already cancelled, an unknown id).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

Resolver = Any


def gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


@dataclass
class FakeLine:
    id: int
    sku: str
    quantity: int
    variant_id: str | None = None

    def node(self) -> dict[str, Any]:
        return {
            "__typename": "LineItem",
            "id": gid("LineItem", self.id),
            "sku": self.sku,
            "quantity": self.quantity,
            "currentQuantity": self.quantity,
            "variant": {"id": self.variant_id} if self.variant_id else None,
        }


@dataclass
class FakeOrder:
    id: int
    name: str
    customer_id: int | None
    lines: list[FakeLine]
    note: str | None = None
    tags: list[str] = field(default_factory=list)
    cancelled: dict[str, Any] | None = None  # the orderCancel arguments, once cancelled

    def node(self) -> dict[str, Any]:
        return {
            "__typename": "Order",
            "id": gid("Order", self.id),
            "legacyResourceId": str(self.id),
            "name": self.name,
            "note": self.note,
            "tags": list(self.tags),
            "cancelledAt": "2026-11-02T12:00:00Z" if self.cancelled else None,
            "customer": {"id": gid("Customer", self.customer_id)} if self.customer_id else None,
            "lineItems": {"nodes": [line.node() for line in self.lines if line.quantity > 0]},
        }


class FakeShop:
    def __init__(self) -> None:
        self.orders: dict[str, FakeOrder] = {}
        self.variants: dict[str, str] = {}  # sku -> variant gid
        self.discounts: dict[str, dict[str, Any]] = {}  # code -> the create input
        self.subscriptions: list[dict[str, Any]] = []
        self.edits: dict[str, dict[str, Any]] = {}  # calculated order gid -> staged edit
        self.forced_user_error: str | None = None
        self.currency = "USD"
        self.products: list[dict[str, Any]] = []  # GraphQL-shaped, for ``products``
        self.open_orders: list[dict[str, Any]] = []  # GraphQL-shaped, for ``orders``
        self._ids = itertools.count(9000)

    # --- set-up by tests ------------------------------------------------------------------

    def add_order(
        self,
        shopify_id: int,
        lines: list[tuple[str, int]],
        *,
        customer_id: int | None = 115310627314723954,
    ) -> FakeOrder:
        for sku, _ in lines:
            self.add_variant(sku)
        order = FakeOrder(
            shopify_id,
            f"#{shopify_id % 10000}",
            customer_id,
            [FakeLine(next(self._ids), sku, n, self.variants[sku]) for sku, n in lines],
        )
        self.orders[gid("Order", shopify_id)] = order
        return order

    def add_variant(self, sku: str) -> str:
        return self.variants.setdefault(sku, gid("ProductVariant", next(self._ids)))

    def order(self, shopify_id: int) -> FakeOrder:
        return self.orders[gid("Order", shopify_id)]

    # --- resolvers ------------------------------------------------------------------------

    def root(self) -> dict[str, Resolver]:
        return {
            "order": lambda info, id: self._order_node(id),
            "codeDiscountNodeByCode": lambda info, code: self._discount_node(code),
            "productVariants": self._product_variants,
            "currentAppInstallation": self._installation,
            "webhookSubscriptions": self._webhook_subscriptions,
            "shop": lambda info: {"currencyCode": self.currency},
            "products": lambda info, **args: _page(self.products, args),
            "orders": lambda info, **args: _page(self.open_orders, args),
            "discountCodeBasicCreate": self._discount_create,
            "tagsAdd": self._tags_add,
            "orderUpdate": self._order_update,
            "orderEditBegin": self._edit_begin,
            "orderEditSetQuantity": self._edit_set_quantity,
            "orderEditAddVariant": self._edit_add_variant,
            "orderEditCommit": self._edit_commit,
            "orderCancel": self._order_cancel,
            "webhookSubscriptionCreate": self._subscription_create,
        }

    def _forced(self) -> list[dict[str, Any]] | None:
        if self.forced_user_error is None:
            return None
        return [{"field": ["input"], "message": self.forced_user_error, "code": "INVALID"}]

    def _order_node(self, order_id: str) -> dict[str, Any] | None:
        order = self.orders.get(order_id)
        return order.node() if order else None

    def _discount_node(self, code: str) -> dict[str, Any] | None:
        found = self.discounts.get(code.upper())
        return {"__typename": "DiscountCodeNode", "id": found["id"]} if found else None

    def _product_variants(self, info: Any, **args: Any) -> dict[str, Any]:
        query = str(args.get("query") or "")
        wanted = query.removeprefix("sku:").strip("'\" ")
        nodes = [{"id": v, "sku": s} for s, v in self.variants.items() if s == wanted]
        return {"nodes": nodes[: args.get("first") or 1]}

    def _installation(self, info: Any) -> dict[str, Any]:
        token = info.context["scopes"] if isinstance(info.context, dict) else []
        return {"accessScopes": [{"handle": s, "description": s} for s in sorted(token)]}

    def _webhook_subscriptions(self, info: Any, **args: Any) -> dict[str, Any]:
        return {
            "nodes": list(self.subscriptions),
            "pageInfo": {"hasNextPage": False, "endCursor": None},
        }

    def _discount_create(self, info: Any, basicCodeDiscount: dict[str, Any]) -> dict[str, Any]:
        if (forced := self._forced()) is not None:
            return {"codeDiscountNode": None, "userErrors": forced}
        code = str(basicCodeDiscount.get("code") or "").upper()
        if code in self.discounts:
            error = {
                "field": ["basicCodeDiscount", "code"],
                "message": "Code must be unique. Please try a different code.",
                "code": "TAKEN",
            }
            return {"codeDiscountNode": None, "userErrors": [error]}
        starts, ends = basicCodeDiscount.get("startsAt"), basicCodeDiscount.get("endsAt")
        if starts and ends and dt.datetime.fromisoformat(ends) <= dt.datetime.fromisoformat(starts):
            error = {
                "field": ["basicCodeDiscount", "endsAt"],
                "message": "Ends at needs to be after starts_at",
                "code": "END_DATE_BEFORE_START_DATE",
            }
            return {"codeDiscountNode": None, "userErrors": [error]}
        node_id = gid("DiscountCodeNode", next(self._ids))
        self.discounts[code] = {**basicCodeDiscount, "id": node_id}
        return {"codeDiscountNode": {"id": node_id}, "userErrors": []}

    def _tags_add(self, info: Any, id: str, tags: list[str]) -> dict[str, Any]:
        order = self.orders.get(id)
        if (forced := self._forced()) is not None or order is None:
            return {
                "node": None,
                "userErrors": forced or [{"field": ["id"], "message": "Resource not found"}],
            }
        order.tags.extend(t for t in tags if t not in order.tags)
        return {"node": order.node(), "userErrors": []}

    def _order_update(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        order = self.orders.get(input["id"])
        if (forced := self._forced()) is not None or order is None:
            return {
                "order": None,
                "userErrors": forced or [{"field": ["id"], "message": "Order does not exist"}],
            }
        if "note" in input:
            order.note = input["note"]
        return {"order": order.node(), "userErrors": []}

    def _edit_begin(self, info: Any, id: str) -> dict[str, Any]:
        order = self.orders.get(id)
        if (forced := self._forced()) is not None or order is None:
            return {
                "calculatedOrder": None,
                "userErrors": forced or [{"field": ["id"], "message": "Order does not exist"}],
            }
        calculated = gid("CalculatedOrder", next(self._ids))
        self.edits[calculated] = {"order": id, "set": {}, "add": [], "committed": False}
        nodes = [
            {"id": gid("CalculatedLineItem", line.id), "sku": line.sku, "quantity": line.quantity}
            for line in order.lines
        ]
        return {
            "calculatedOrder": {"id": calculated, "lineItems": {"nodes": nodes}},
            "userErrors": [],
        }

    def _edit_set_quantity(
        self, info: Any, id: str, lineItemId: str, quantity: int, **args: Any
    ) -> dict[str, Any]:
        edit = self.edits.get(id)
        if (forced := self._forced()) is not None or edit is None or quantity < 0:
            return {
                "calculatedOrder": None,
                "userErrors": forced or [{"field": ["id"], "message": "Invalid edit"}],
            }
        edit["set"][int(lineItemId.rsplit("/", 1)[1])] = quantity
        return {"calculatedOrder": {"id": id}, "userErrors": []}

    def _edit_add_variant(
        self, info: Any, id: str, variantId: str, quantity: int, **args: Any
    ) -> dict[str, Any]:
        edit = self.edits.get(id)
        sku = next((s for s, v in self.variants.items() if v == variantId), None)
        if (forced := self._forced()) is not None or edit is None or sku is None or quantity < 1:
            return {
                "calculatedOrder": None,
                "userErrors": forced
                or [{"field": ["variantId"], "message": "Variant does not exist"}],
            }
        edit["add"].append((sku, variantId, quantity))
        return {"calculatedOrder": {"id": id}, "userErrors": []}

    def _edit_commit(self, info: Any, id: str, **args: Any) -> dict[str, Any]:
        edit = self.edits.get(id)
        if (forced := self._forced()) is not None or edit is None or edit["committed"]:
            return {
                "order": None,
                "userErrors": forced or [{"field": ["id"], "message": "Edit session is not open"}],
            }
        order = self.orders[edit["order"]]
        for line in order.lines:
            if line.id in edit["set"]:
                line.quantity = edit["set"][line.id]
        for sku, variant, quantity in edit["add"]:
            order.lines.append(FakeLine(next(self._ids), sku, quantity, variant))
        edit["committed"] = True
        return {"order": order.node(), "userErrors": []}

    def _order_cancel(self, info: Any, orderId: str, **args: Any) -> dict[str, Any]:
        order = self.orders.get(orderId)
        forced = self._forced()
        if forced is None and order is None:
            forced = [
                {"field": ["orderId"], "message": "Order does not exist", "code": "NOT_FOUND"}
            ]
        if forced is None and order is not None and order.cancelled is not None:
            forced = [
                {
                    "field": ["orderId"],
                    "message": "Cannot cancel an order that has already been cancelled",
                    "code": "INVALID",
                }
            ]
        if forced is not None:
            return {"job": None, "orderCancelUserErrors": forced, "userErrors": forced}
        assert order is not None
        order.cancelled = {**args, "at": dt.datetime.now(dt.UTC).isoformat()}
        return {
            "job": {"id": gid("Job", next(self._ids)), "done": False},
            "orderCancelUserErrors": [],
            "userErrors": [],
        }

    def _subscription_create(
        self, info: Any, topic: str, webhookSubscription: dict[str, Any]
    ) -> dict[str, Any]:
        if (forced := self._forced()) is not None:
            return {"webhookSubscription": None, "userErrors": forced}
        node = {
            "__typename": "WebhookSubscription",
            "id": gid("WebhookSubscription", next(self._ids)),
            "topic": topic,
            "uri": webhookSubscription.get("uri"),
        }
        self.subscriptions.append(node)
        return {"webhookSubscription": node, "userErrors": []}


def order_from_webhook(shop: FakeShop, payload: dict[str, Any]) -> FakeOrder:
    """Shopify's side of an order whose ``orders/create`` the fake sent: same id, customer
    (by its gid: the sample's numeric ids lost precision, see SOURCES.md) and line items."""
    customer = payload.get("customer") or {}
    customer_gid = str(customer.get("admin_graphql_api_id") or "")
    lines = [(str(item["sku"]), int(item["quantity"])) for item in payload["line_items"]]
    customer_id = int(customer_gid.rsplit("/", 1)[1]) if customer_gid else None
    return shop.add_order(int(payload["id"]), lines, customer_id=customer_id)


def _page(nodes: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
    """A connection page; the cursor is the index after the page (opaque to clients)."""
    start = int(args.get("after") or 0)
    end = start + int(args.get("first") or 10)
    more = end < len(nodes)
    return {
        "nodes": nodes[start:end],
        "pageInfo": {"hasNextPage": more, "endCursor": str(end) if more else None},
    }
