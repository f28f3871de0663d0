"""What each Shopify topic does to the store, inside the caller's transaction.

Every function either applies the whole webhook or raises (``Refused``, or a store error the
caller turns into one); the caller runs it in a savepoint, so a refusal leaves nothing behind.
Orders, shipments and stock go through the store's operations, under the same rules as the API
and the CLI: ``store.order_intake`` (``place_order``'s rules in few plain statements, since every
new order comes this way: idempotent on the order number; a line without stock is a backorder
with an offer), ``cancel_line`` (the refund is recorded), ``ship`` and ``set_shop_count``
(waiting lines allocated oldest first).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from bot.integrations.shopify.mapping import (
    Refused,
    ShopifyCustomer,
    ShopifyOrder,
    read_fulfillment,
    read_inventory_level,
    read_order,
    read_variants,
)
from store.allocation import RESERVING_STATUSES, set_shop_count, supersede_open_offers
from store.customers import (
    CustomerData,
    normalize_locale,
    normalize_phone,
)
from store.errors import InvalidInput
from store.locking import lock_lines, lock_products
from store.models import (
    Order,
    OrderLine,
    Product,
    ShopifyInventoryItem,
    ShopifyOutcome,
)
from store.models import (
    ShopifyOrder as ShopifyOrderRow,
)
from store.offers import cancel_line
from store.order_intake import (
    LockedProduct,
    PlacedIds,
    ensure_customer,
    lock_products_by_sku,
    place_order_rows,
)
from store.orders import LineRequest
from store.policy import Policy
from store.shipments import ship_fulfilment

__all__ = ["HANDLERS", "Applied", "Config"]

logger = logging.getLogger(__name__)
CANCEL_REASON = "shopify"
_SHOPIFY_ORDERS = cast(Table, ShopifyOrderRow.__table__)
_PLACED = select(_SHOPIFY_ORDERS.c.order_id).where(
    _SHOPIFY_ORDERS.c.shopify_id == bindparam("shopify_id")
)
_LINK = insert(_SHOPIFY_ORDERS)


@dataclass(frozen=True, slots=True)
class Config:
    policy: Policy
    default_locale: str = "en"
    default_timezone: str = "UTC"
    phone_region: str | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    outcome: ShopifyOutcome
    resource_id: str | None = None
    reason: str | None = None  # for a stale or ignored webhook: why nothing changed


Handler = Callable[[Session, dict[str, Any], Config, dt.datetime], Applied]


def order_created(
    session: Session, payload: dict[str, Any], config: Config, now: dt.datetime
) -> Applied:
    """Place the order here; a repeat (same Shopify order) changes nothing."""
    order = read_order(payload)
    resource = str(order.shopify_id)
    if session.execute(_PLACED, {"shopify_id": order.shopify_id}).first() is not None:
        return Applied(ShopifyOutcome.HANDLED, resource, "already placed")
    if order.cancelled_at is not None:
        return Applied(ShopifyOutcome.IGNORED, resource, "cancelled in Shopify before it got here")
    # Few plain statements (``store.order_intake``): this is the path every new order takes.
    products = lock_products_by_sku(session, [line.sku for line in order.lines])
    _check_products(order, products)
    customer_id, customer_key = _customer(session, order.customer, config)
    placed = place_order_rows(
        session,
        number=order.number,
        customer_id=customer_id,
        customer_key=customer_key,
        products=products,
        lines=[LineRequest(line.sku, line.quantity) for line in order.lines],
        placed_at=order.created_at,
        policy=config.policy,
        now=now,
    )
    _link(session, order, placed)
    return Applied(ShopifyOutcome.HANDLED, resource)


def order_cancelled(
    session: Session, payload: dict[str, Any], config: Config, now: dt.datetime
) -> Applied:
    """Cancel the order's open lines (their refunds recorded); shipped units stay shipped."""
    row, order = _known_order(session, payload)
    _cancel_open_lines(session, order, now)
    row.updated_at = max(row.updated_at, _updated_at(payload))
    return Applied(ShopifyOutcome.HANDLED, str(row.shopify_id))


def order_updated(
    session: Session, payload: dict[str, Any], config: Config, now: dt.datetime
) -> Applied:
    """Only what this slice understands: a cancellation, or nothing. An update older than the
    one we hold is stale; a change of line quantities is refused (order edits come later)."""
    row, order = _known_order(session, payload)
    updated_at = _updated_at(payload)
    if updated_at <= row.updated_at:
        return Applied(ShopifyOutcome.STALE, str(row.shopify_id), "older than what we hold")
    shopify = read_order(payload)
    if shopify.cancelled_at is not None:
        _cancel_open_lines(session, order, now)
    elif _edited(order, shopify):
        raise Refused("line quantities changed in Shopify; order edits are not applied yet")
    row.updated_at = updated_at
    return Applied(ShopifyOutcome.HANDLED, str(row.shopify_id))


def fulfillment_created(
    session: Session, payload: dict[str, Any], config: Config, now: dt.datetime
) -> Applied:
    """Ship the fulfilled units with the tracking; one shipment when the whole order left."""
    fulfillment = read_fulfillment(payload)
    row = session.get(ShopifyOrderRow, fulfillment.order_id)
    if row is None:
        raise Refused(f"fulfillment for Shopify order {fulfillment.order_id}, not placed here")
    order = session.get_one(Order, row.order_id)
    wanted: dict[str, int] = {}
    for line in fulfillment.lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    ship_fulfilment(
        session,
        order.number,
        None if wanted == _reserved(order) else wanted,
        f"shopify:fulfillment:{fulfillment.shopify_id}",
        carrier=fulfillment.carrier,
        tracking=fulfillment.tracking,
        tracking_url=fulfillment.tracking_url,
        now=now,
    )
    return Applied(ShopifyOutcome.HANDLED, str(fulfillment.shopify_id))


def inventory_updated(
    session: Session, payload: dict[str, Any], config: Config, now: dt.datetime
) -> Applied:
    """The item's available count becomes the shop's count of its SKU."""
    level = read_inventory_level(payload)
    item = session.get(ShopifyInventoryItem, level.inventory_item_id)
    if item is None:
        raise Refused(
            f"inventory item {level.inventory_item_id} maps to no SKU yet"
            " (it is learnt from products/update)"
        )
    _set_count(session, item.sku, level.available, now)
    return Applied(ShopifyOutcome.HANDLED, str(level.inventory_item_id))


def product_updated(
    session: Session, payload: dict[str, Any], config: Config, now: dt.datetime
) -> Applied:
    """Learn each variant's inventory item, and take its inventory quantity as the count."""
    variants = read_variants(payload)
    skus = {v.sku for v in variants}
    known = set(session.scalars(select(Product.sku).where(Product.sku.in_(skus))))
    if skus - known:
        raise Refused(f"unknown SKU: {', '.join(sorted(skus - known))[:400]}")
    for variant in variants:
        if variant.inventory_item_id is not None:
            _map_item(session, variant.inventory_item_id, variant.sku, variant.variant_id, now)
        if variant.inventory_quantity is not None:
            _set_count(session, variant.sku, max(variant.inventory_quantity, 0), now)
    product_id = payload.get("id")
    return Applied(ShopifyOutcome.HANDLED, str(product_id) if product_id is not None else None)


def app_uninstalled(
    session: Session, payload: dict[str, Any], config: Config, now: dt.datetime
) -> Applied:
    """Recorded (the webhook row) and logged: the shop removed the app."""
    shop = payload.get("myshopify_domain") or payload.get("domain") or payload.get("id")
    logger.warning("Shopify app uninstalled by shop %s; no more webhooks will come", shop)
    return Applied(ShopifyOutcome.HANDLED, str(payload.get("id") or "") or None)


HANDLERS: dict[str, Handler] = {
    "orders/create": order_created,
    "orders/updated": order_updated,
    "orders/cancelled": order_cancelled,
    "fulfillments/create": fulfillment_created,
    "inventory_levels/update": inventory_updated,
    "products/update": product_updated,
    "app/uninstalled": app_uninstalled,
}


# --- helpers --------------------------------------------------------------------------------


def _check_products(order: ShopifyOrder, products: Mapping[str, LockedProduct]) -> None:
    """Every SKU held here, in the order's currency: refused whole otherwise."""
    skus = {line.sku for line in order.lines}
    missing = sorted(skus - set(products))
    if missing:
        raise Refused(f"unknown SKU: {', '.join(missing)[:400]}")
    other = sorted(sku for sku, p in products.items() if p.currency != order.currency)
    if other:
        held = products[other[0]].currency
        raise Refused(
            f"order in {order.currency or 'no currency'}; {other[0]} is sold here in {held}"
        )


def _customer(session: Session, shopify: ShopifyCustomer, config: Config) -> tuple[int, str]:
    phone = None
    for candidate in shopify.phones:
        try:
            phone = normalize_phone(candidate, config.phone_region)
            break
        except InvalidInput:
            continue
    if phone is None:
        given = f"{len(shopify.phones)} given, none valid" if shopify.phones else "none given"
        raise Refused(f"the customer has no usable phone number ({given})")
    ref = f"shopify:{shopify.shopify_id}" if shopify.shopify_id else None

    def data() -> CustomerData:  # only for a customer not known by this phone
        return CustomerData(
            name=shopify.name,
            phone=phone,
            email=shopify.email[:320] if shopify.email else None,
            locale=normalize_locale(shopify.locale or "", config.default_locale),
            external_ref=ref,
        )

    # The shop's record here (found by phone) wins over the order's copy, as in the API.
    customer_id = ensure_customer(
        session,
        phone,
        ref,
        data,
        default_locale=config.default_locale,
        default_timezone=config.default_timezone,
    )
    return customer_id, phone


def _link(session: Session, shopify: ShopifyOrder, placed: PlacedIds) -> None:
    if not placed.created:
        taken = session.scalars(
            select(ShopifyOrderRow.shopify_id).where(ShopifyOrderRow.order_id == placed.order_id)
        ).first()
        if taken is not None:
            raise Refused(f"order number {shopify.number} is already Shopify order {taken}")
    link = {
        "shopify_id": shopify.shopify_id,
        "order_id": placed.order_id,
        "updated_at": shopify.updated_at,
    }
    session.execute(_LINK, link)


def _known_order(session: Session, payload: dict[str, Any]) -> tuple[ShopifyOrderRow, Order]:
    shopify_id = payload.get("id")
    row = session.get(ShopifyOrderRow, shopify_id) if isinstance(shopify_id, int) else None
    if row is None:
        raise Refused(f"Shopify order {shopify_id} was not placed here")
    return row, session.get_one(Order, row.order_id)


def _updated_at(payload: dict[str, Any]) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(payload.get("updated_at")))
    except ValueError:
        raise Refused("updated_at is missing or not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise Refused("updated_at has no UTC offset")
    return parsed.astimezone(dt.UTC)


def _cancel_open_lines(session: Session, order: Order, now: dt.datetime) -> None:
    # The lock order of ``store.locking``: the products, then the lines, re-read once locked.
    lock_products(session, [line.product_id for line in order.lines])
    for line in lock_lines(session, [line.id for line in order.lines]):
        if line.status in RESERVING_STATUSES:
            supersede_open_offers(session, line, now)
            cancel_line(session, line, now, reason=CANCEL_REASON)


def _live_lines(order: Order) -> list[OrderLine]:
    return [line for line in order.lines if line.status in RESERVING_STATUSES]


def _edited(order: Order, shopify: ShopifyOrder) -> bool:
    """Did Shopify change a line's quantity since the order was placed here?

    Our side counts every line of a SKU Shopify lists, whatever became of it here (a
    cancellation or a switch chosen here is not news to Shopify yet: outbound comes later);
    a line we added by a switch has a SKU Shopify does not list and is not compared.
    """
    ours: dict[str, int] = {}
    theirs: dict[str, int] = {}
    for item in shopify.current:
        theirs[item.sku] = theirs.get(item.sku, 0) + item.quantity
    for line in order.lines:
        if line.product.sku in theirs:
            ours[line.product.sku] = ours.get(line.product.sku, 0) + line.quantity
    return ours != theirs


def _reserved(order: Order) -> dict[str, int]:
    """Reserved, unshipped units per SKU: what shipping the whole order would send."""
    totals: dict[str, int] = {}
    for line in _live_lines(order):
        units = line.allocated_quantity - line.shipped_quantity
        if units > 0:
            totals[line.product.sku] = totals.get(line.product.sku, 0) + units
    return totals


def _set_count(session: Session, sku: str, count: int, now: dt.datetime) -> None:
    product = session.scalars(select(Product).where(Product.sku == sku)).first()
    if product is None:
        raise Refused(f"unknown SKU: {sku}")
    lock_products(session, [product.id])
    session.refresh(product)  # read fresh under the lock
    set_shop_count(session, product, count, now)


def _map_item(
    session: Session, item_id: int, sku: str, variant_id: int | None, now: dt.datetime
) -> None:
    item = session.get(ShopifyInventoryItem, item_id)
    if item is None:
        session.add(
            ShopifyInventoryItem(
                inventory_item_id=item_id, sku=sku, variant_id=variant_id, updated_at=now
            )
        )
    else:
        item.sku, item.variant_id, item.updated_at = sku, variant_id, now
    session.flush()
