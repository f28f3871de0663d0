"""Shopify webhook payloads (REST-shaped JSON) read into the few facts we act on.

Pure functions: no database. A payload that lacks what we need raises :class:`Refused` with a
reason a person can act on; the caller records it. Shopify ids are 64-bit integers (JSON
numbers; ``admin_graphql_api_id`` carries the same id as text).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Fulfillment",
    "InventoryLevel",
    "Refused",
    "ShopifyCustomer",
    "ShopifyLine",
    "ShopifyOrder",
    "Variant",
    "read_fulfillment",
    "read_inventory_level",
    "read_order",
    "read_variants",
]


class Refused(Exception):
    """The webhook cannot be applied; ``str(exc)`` says why. Nothing of it is written."""


@dataclass(frozen=True, slots=True)
class ShopifyLine:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ShopifyCustomer:
    shopify_id: int | None
    name: str
    phones: tuple[str, ...]  # candidates, best first: customer, order, shipping address
    email: str | None
    locale: str | None


@dataclass(frozen=True, slots=True)
class ShopifyOrder:
    shopify_id: int
    number: str  # the order's ``name``, e.g. "#1001": what the customer sees
    currency: str
    created_at: dt.datetime
    updated_at: dt.datetime
    cancelled_at: dt.datetime | None
    customer: ShopifyCustomer
    lines: tuple[ShopifyLine, ...]  # what is to be placed: lines edited down to 0 left out
    current: tuple[ShopifyLine, ...]  # every SKU'd line with its current quantity, 0 included


@dataclass(frozen=True, slots=True)
class Fulfillment:
    shopify_id: int
    order_id: int
    carrier: str | None
    tracking: str | None
    tracking_url: str | None
    lines: tuple[ShopifyLine, ...]


@dataclass(frozen=True, slots=True)
class InventoryLevel:
    inventory_item_id: int
    available: int


@dataclass(frozen=True, slots=True)
class Variant:
    variant_id: int | None
    sku: str
    inventory_item_id: int | None
    inventory_quantity: int | None


def read_order(payload: dict[str, Any]) -> ShopifyOrder:
    """An order of ``orders/create``, ``orders/updated`` or ``orders/cancelled``."""
    number = _text(payload.get("name")) or _text(payload.get("order_number"))
    if number is None or len(number) > 64:
        raise Refused("the order has no usable name (order number)")
    current = _lines(payload.get("line_items"), current=True)
    lines = tuple(line for line in current if line.quantity > 0)
    if not lines:
        raise Refused("no line items left to place")
    cancelled = payload.get("cancelled_at")
    return ShopifyOrder(
        shopify_id=_id(payload.get("id"), "order id"),
        number=number,
        currency=(_text(payload.get("currency")) or "").upper(),
        created_at=_time(payload.get("created_at"), "created_at"),
        updated_at=_time(payload.get("updated_at") or payload.get("created_at"), "updated_at"),
        cancelled_at=_time(cancelled, "cancelled_at") if cancelled else None,
        customer=_customer(payload),
        lines=lines,
        current=current,
    )


def read_fulfillment(payload: dict[str, Any]) -> Fulfillment:
    """A fulfillment of ``fulfillments/create``: which units left, with which tracking."""
    numbers = payload.get("tracking_numbers") or []
    urls = payload.get("tracking_urls") or []
    return Fulfillment(
        shopify_id=_id(payload.get("id"), "fulfillment id"),
        order_id=_id(payload.get("order_id"), "order_id"),
        carrier=_text(payload.get("tracking_company")),
        tracking=_text(payload.get("tracking_number")) or (_text(numbers[0]) if numbers else None),
        tracking_url=_text(payload.get("tracking_url")) or (_text(urls[0]) if urls else None),
        lines=_lines(payload.get("line_items"), current=False),
    )


def read_inventory_level(payload: dict[str, Any]) -> InventoryLevel:
    available = payload.get("available")
    if not isinstance(available, int) or isinstance(available, bool):
        raise Refused("inventory level without an available count (untracked item?)")
    return InventoryLevel(_id(payload.get("inventory_item_id"), "inventory_item_id"), available)


def read_variants(payload: dict[str, Any]) -> list[Variant]:
    """The variants of ``products/update`` that have a SKU (a variant without one maps to
    nothing here)."""
    found = []
    for variant in payload.get("variants") or []:
        sku = _text(variant.get("sku"))
        if sku is None:
            continue
        item = variant.get("inventory_item_id")
        quantity = variant.get("inventory_quantity")
        found.append(
            Variant(
                variant_id=variant.get("id") if isinstance(variant.get("id"), int) else None,
                sku=sku,
                inventory_item_id=item if isinstance(item, int) else None,
                inventory_quantity=quantity if isinstance(quantity, int) else None,
            )
        )
    return found


def _customer(payload: dict[str, Any]) -> ShopifyCustomer:
    customer = payload.get("customer") or {}
    shipping = payload.get("shipping_address") or {}
    first, last = _text(customer.get("first_name")), _text(customer.get("last_name"))
    name = " ".join(part for part in (first, last) if part) or _text(shipping.get("name"))
    phones = tuple(
        phone
        for phone in (
            _text(customer.get("phone")),
            _text(payload.get("phone")),
            _text(shipping.get("phone")),
        )
        if phone
    )
    return ShopifyCustomer(
        shopify_id=customer.get("id") if isinstance(customer.get("id"), int) else None,
        name=(name or "Shopify customer")[:200],
        phones=phones,
        email=_text(customer.get("email")) or _text(payload.get("email")),
        locale=_text(payload.get("customer_locale")),
    )


def _lines(items: Any, *, current: bool) -> tuple[ShopifyLine, ...]:
    if not isinstance(items, list) or not items:
        raise Refused("no line items")
    lines = []
    for item in items:
        sku = _text(item.get("sku"))
        # ``current_quantity`` is what remains after edits and removals; a line edited to 0
        # is not part of the order any more.
        quantity = item.get("current_quantity") if current else None
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            quantity = item.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            raise Refused(f"line item {item.get('id')} has no usable quantity")
        if sku is None and quantity == 0:
            continue
        if sku is None:
            raise Refused(f"line item {item.get('id')} ({item.get('name')!s:.60}) has no SKU")
        lines.append(ShopifyLine(sku, quantity))
    return tuple(lines)


def _id(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise Refused(f"missing or invalid {what}")


def _time(value: Any, what: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise Refused(f"{what} {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise Refused(f"{what} {value!r} has no UTC offset")
    return parsed.astimezone(dt.UTC)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
