"""The writes to Shopify, one function per job kind, each safe to run again.

None of these mutations takes Shopify's ``@idempotent`` directive (in 2026-07 it is offered on
inventory and a few other mutations only: see the schema), so each write checks before it
writes: the discount code is looked up by code, the order's tags and note are read, an order
edit is skipped when the order's line items already say what it would make them, and a cancel
when the order is already cancelled. A job that failed half-way (an edit begun, not committed)
leaves nothing in Shopify: an uncommitted edit session is discarded there.

Every document here is validated against Shopify's published schema of the pinned version by
the tests' fake (``tests/bot/integrations/shopify/fake_admin.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from babel.numbers import get_currency_precision

from bot.integrations.shopify.admin_client import AdminClient, AdminError, user_errors
from store.tables_shopify import ShopifyJobKind

__all__ = ["PERFORMERS", "Job", "order_gid"]

MAX_STAFF_NOTE = 255  # orderCancel's documented limit


class Job:
    """What a performer needs of a job row (read in the worker's short transaction)."""

    def __init__(
        self, job_id: int, kind: ShopifyJobKind, shopify_order_id: int, payload: dict[str, Any]
    ) -> None:
        self.id = job_id
        self.kind = kind
        self.order = order_gid(shopify_order_id)
        self.payload = payload


def order_gid(shopify_id: int) -> str:
    return f"gid://shopify/Order/{shopify_id}"


def _refused(name: str, payload: dict[str, Any] | None, *fields: str) -> None:
    problem = user_errors(payload, *fields)
    if problem is not None:
        raise AdminError(f"{name}: {problem}", permanent=True)


def _order(client: AdminClient, job: Job, name: str, query: str) -> dict[str, Any]:
    order = client.execute(name, query, {"id": job.order}).get("order")
    if not isinstance(order, dict):
        raise AdminError(f"order {job.order} does not exist in Shopify", permanent=True)
    return order


# --- the wait coupon ----------------------------------------------------------------------

DISCOUNT_BY_CODE = (
    "query DiscountByCode($code: String!) { codeDiscountNodeByCode(code: $code) { id } }"
)
ORDER_CUSTOMER = "query OrderCustomer($id: ID!) { order(id: $id) { id customer { id } } }"
CREATE_DISCOUNT = """
mutation CreateWaitDiscount($input: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $input) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}"""


def create_discount(client: AdminClient, job: Job, now: dt.datetime) -> str:
    """The coupon as a code only this order's customer can use, once, until the offer ends."""
    code = str(job.payload["code"])
    existing = client.execute("DiscountByCode", DISCOUNT_BY_CODE, {"code": code})
    node = existing.get("codeDiscountNodeByCode")
    if isinstance(node, dict):
        return str(node["id"])  # created by an earlier attempt whose answer was lost
    percent = int(job.payload["percent"])
    if percent <= 0:
        return "no discount: 0%"
    customer = _order(client, job, "OrderCustomer", ORDER_CUSTOMER).get("customer")
    if not isinstance(customer, dict):
        raise AdminError("the order has no customer in Shopify to give the code to", permanent=True)
    discount = {
        "title": f"Backorder wait {code}",
        "code": code,
        "startsAt": now.isoformat(),
        "endsAt": job.payload["ends_at"],
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "context": {"customers": {"add": [customer["id"]]}},
        "customerGets": {"value": {"percentage": percent / 100}, "items": {"all": True}},
    }
    data = client.execute("CreateWaitDiscount", CREATE_DISCOUNT, {"input": discount})
    payload = data.get("discountCodeBasicCreate")
    _refused("discountCodeBasicCreate", payload)
    assert payload is not None
    return str((payload.get("codeDiscountNode") or {}).get("id"))


# --- the choice on the order --------------------------------------------------------------

ORDER_NOTE = "query OrderNote($id: ID!) { order(id: $id) { id note tags } }"
ADD_TAGS = """
mutation TagOrder($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { userErrors { field message } }
}"""
UPDATE_NOTE = """
mutation NoteOrder($input: OrderInput!) {
  orderUpdate(input: $input) { order { id } userErrors { field message } }
}"""


def write_choice(client: AdminClient, job: Job, now: dt.datetime) -> str:
    """Tag the order with the choice and append one line to its note (the shop's note kept)."""
    order = _order(client, job, "OrderNote", ORDER_NOTE)
    tag, line = str(job.payload["tag"]), str(job.payload["note"])
    if tag not in (order.get("tags") or []):
        data = client.execute("TagOrder", ADD_TAGS, {"id": job.order, "tags": [tag]})
        _refused("tagsAdd", data.get("tagsAdd"))
    note = order.get("note") or ""
    if line not in note.splitlines():
        new_note = f"{note}\n{line}" if note else line
        data = client.execute(
            "NoteOrder", UPDATE_NOTE, {"input": {"id": job.order, "note": new_note}}
        )
        _refused("orderUpdate", data.get("orderUpdate"))
    return tag


# --- a switch, or a cancelled line: the order edited ----------------------------------------

ORDER_LINES = """
query OrderLines($id: ID!) {
  order(id: $id) { id cancelledAt lineItems(first: 50) { nodes { id sku currentQuantity } } }
}"""
VARIANT_BY_SKU = """
query VariantBySku($query: String!) {
  productVariants(first: 1, query: $query) { nodes { id sku } }
}"""
BEGIN_EDIT = """
mutation BeginEdit($id: ID!) {
  orderEditBegin(id: $id) {
    calculatedOrder { id lineItems(first: 50) { nodes { id sku quantity } } }
    userErrors { field message }
  }
}"""
SET_QUANTITY = """
mutation SetQuantity($id: ID!, $lineItemId: ID!, $quantity: Int!) {
  orderEditSetQuantity(id: $id, lineItemId: $lineItemId, quantity: $quantity, restock: true) {
    calculatedOrder { id }
    userErrors { field message }
  }
}"""
ADD_VARIANT = """
mutation AddVariant($id: ID!, $variantId: ID!, $quantity: Int!) {
  orderEditAddVariant(id: $id, variantId: $variantId, quantity: $quantity) {
    calculatedOrder { id }
    userErrors { field message }
  }
}"""
COMMIT_EDIT = """
mutation CommitEdit($id: ID!, $note: String) {
  orderEditCommit(id: $id, notifyCustomer: false, staffNote: $note) {
    order { id }
    userErrors { field message }
  }
}"""


def edit_order(client: AdminClient, job: Job, now: dt.datetime) -> str:
    """Set the late line to the units already shipped and add the switched item, in one edit."""
    sku, keep = str(job.payload["sku"]), int(job.payload["keep"])
    add: dict[str, Any] | None = job.payload.get("add")
    order = _order(client, job, "OrderLines", ORDER_LINES)
    if order.get("cancelledAt"):
        raise AdminError("the order is cancelled in Shopify: it cannot be edited", permanent=True)
    current = {n.get("sku"): int(n["currentQuantity"]) for n in order["lineItems"]["nodes"]}
    added = add is None or current.get(add["sku"], 0) >= int(add["quantity"])
    if current.get(sku, 0) <= keep and added:
        return "already edited"
    variant = _variant(client, str(add["sku"])) if add else None
    begun = client.execute("BeginEdit", BEGIN_EDIT, {"id": job.order}).get("orderEditBegin")
    _refused("orderEditBegin", begun)
    assert begun is not None
    calculated = begun["calculatedOrder"]
    item = next((n for n in calculated["lineItems"]["nodes"] if n.get("sku") == sku), None)
    if item is not None and int(item["quantity"]) > keep:
        changes = {"id": calculated["id"], "lineItemId": item["id"], "quantity": keep}
        data = client.execute("SetQuantity", SET_QUANTITY, changes)
        _refused("orderEditSetQuantity", data.get("orderEditSetQuantity"))
    if add is not None and variant is not None:
        changes = {"id": calculated["id"], "variantId": variant, "quantity": int(add["quantity"])}
        data = client.execute("AddVariant", ADD_VARIANT, changes)
        _refused("orderEditAddVariant", data.get("orderEditAddVariant"))
    note = f"backorder-bot: {sku} -> {add['sku'] if add else 'cancelled'}"
    data = client.execute("CommitEdit", COMMIT_EDIT, {"id": calculated["id"], "note": note})
    _refused("orderEditCommit", data.get("orderEditCommit"))
    return str(calculated["id"])


def _variant(client: AdminClient, sku: str) -> str:
    query = f"sku:'{sku}'"
    nodes = client.execute("VariantBySku", VARIANT_BY_SKU, {"query": query})["productVariants"]
    found = [n for n in nodes["nodes"] if n.get("sku") == sku]
    if not found:
        raise AdminError(f"no Shopify variant has SKU {sku}", permanent=True)
    return str(found[0]["id"])


# --- a whole order cancelled --------------------------------------------------------------

ORDER_CANCELLED = "query OrderCancelled($id: ID!) { order(id: $id) { id cancelledAt } }"
CANCEL_ORDER = """
mutation CancelOrder($id: ID!, $note: String) {
  orderCancel(
    orderId: $id
    reason: CUSTOMER
    refundMethod: {originalPaymentMethodsRefund: true}
    restock: true
    notifyCustomer: false
    staffNote: $note
  ) {
    job { id }
    orderCancelUserErrors { field code message }
  }
}"""


def cancel_order(client: AdminClient, job: Job, now: dt.datetime) -> str:
    """Cancel it there, refunded to the customer's payment; the customer was already told."""
    order = _order(client, job, "OrderCancelled", ORDER_CANCELLED)
    if order.get("cancelledAt"):
        return "already cancelled"
    cents, currency = int(job.payload["refund_cents"]), job.payload.get("currency")
    promised = "nothing"
    if currency:
        amount = Decimal(cents).scaleb(-get_currency_precision(str(currency)))
        promised = f"{amount} {currency}"
    note = f"backorder-bot: the customer cancelled; refund promised: {promised}"
    data = client.execute(
        "CancelOrder", CANCEL_ORDER, {"id": job.order, "note": note[:MAX_STAFF_NOTE]}
    )
    payload = data.get("orderCancel")
    _refused("orderCancel", payload, "orderCancelUserErrors")
    assert payload is not None
    return str((payload.get("job") or {}).get("id"))


Performer = Callable[[AdminClient, Job, dt.datetime], str]

PERFORMERS: dict[ShopifyJobKind, Performer] = {
    ShopifyJobKind.DISCOUNT_CODE: create_discount,
    ShopifyJobKind.ORDER_NOTE: write_choice,
    ShopifyJobKind.ORDER_EDIT: edit_order,
    ShopifyJobKind.ORDER_CANCEL: cancel_order,
}
