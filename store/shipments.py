"""Shipping: reserved units leave the shelf, the customer is told, and orders end.

``ship`` hands units of one order to a carrier: the whole order (every reserved, unshipped
unit of every line) or part of one line (``sku``, ``quantity``). Only reserved units ship, so
a shipment can never send what the shop does not have for this customer; what the caller
asked for is refused whole (``InvalidInput``, nothing written) when any of it cannot ship.

The order's lines are locked first (``FOR UPDATE`` on PostgreSQL; on SQLite the writer lock is
taken at ``BEGIN IMMEDIATE``), then read fresh: two ship calls for the same order take turns,
and the second sees what the first shipped. Lines come before the order's own row, the same
order the offer choices take, so the two never wait on each other in a circle.

Stock: shipping never changes ``Product.stock_on_hand`` (the free units); it moves units from
reserved to gone (see ``store.allocation``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from store import events
from store.allocation import RESERVING_STATUSES
from store.errors import Conflict, InvalidInput
from store.models import (
    EventKind,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Shipment,
    ShipmentLine,
)
from store.order_status import settle_order
from store.orders import find_order

__all__ = ["ShipResult", "ShipmentDetails", "check_details", "ship"]

MAX_TEXT = 64  # carrier and tracking number columns
MAX_URL = 500


@dataclass(frozen=True, slots=True)
class ShipmentDetails:
    """What the customer needs to follow a parcel; each may be unknown."""

    carrier: str | None = None
    tracking: str | None = None
    tracking_url: str | None = None


@dataclass(frozen=True, slots=True)
class ShipResult:
    shipment: Shipment
    created: bool  # False for a retry with the same idempotency key: nothing shipped again


def ship_fulfilment(
    session: Session,
    order_number: str,
    units: Mapping[str, int] | None,
    key: str,
    *,
    carrier: str | None,
    tracking: str | None,
    tracking_url: str | None,
    now: dt.datetime,
) -> None:
    """Ship what a platform's fulfilment says: the whole order (``units`` None) under ``key``,
    or each SKU's units under ``key:SKU``, so a fulfilment delivered again ships nothing twice
    (Shopify's ``fulfillments/create`` and the order feed's shipments)."""
    parts: list[tuple[str | None, int | None, str]] = (
        [(None, None, key[:128])]
        if units is None
        else [(sku, n, f"{key}:{sku}"[:128]) for sku, n in sorted(units.items())]
    )
    for sku, quantity, part_key in parts:
        ship(
            session,
            order_number,
            sku=sku,
            quantity=quantity,
            carrier=carrier,
            tracking=tracking,
            tracking_url=tracking_url,
            now=now,
            idempotency_key=part_key,
        )


def ship(
    session: Session,
    order_number: str,
    *,
    sku: str | None = None,
    quantity: int | None = None,
    carrier: str | None = None,
    tracking: str | None = None,
    tracking_url: str | None = None,
    now: dt.datetime,
    idempotency_key: str | None = None,
) -> ShipResult:
    """Ship the order's reserved units (all, or ``quantity`` of ``sku``); the caller commits.

    Raises ``NotFound`` for an unknown order, ``InvalidInput`` when the request cannot ship as
    asked, and ``Conflict`` when ``idempotency_key`` was used for a different request.
    """
    details = check_details(carrier, tracking, tracking_url)
    _check_amount(sku, quantity)
    order = find_order(session, order_number)
    lines = _lock_lines(session, order)
    digest = _digest(sku, quantity, details)
    if idempotency_key is not None:
        repeat = _repeat(session, order, idempotency_key, digest)
        if repeat is not None:
            return ShipResult(repeat, created=False)
    plan = _plan_line(order, lines, sku, quantity) if sku is not None else _plan_order(order, lines)
    shipment = Shipment(
        order_id=order.id,
        carrier=details.carrier,
        tracking_number=details.tracking,
        tracking_url=details.tracking_url,
        idempotency_key=idempotency_key,
        request_digest=digest,
        created_at=now,
    )
    for line, units in plan:
        shipment.lines.append(ShipmentLine(line_id=line.id, quantity=units))
        line.shipped_quantity += units
        if line.shipped_quantity == line.quantity:
            line.status = LineStatus.SHIPPED
            line.shipped_at = now
    session.add(shipment)
    status = settle_order(order)
    session.flush()
    _record(session, shipment, plan, details, completed=status == OrderStatus.COMPLETED)
    return ShipResult(shipment, created=True)


def check_details(
    carrier: str | None, tracking: str | None, tracking_url: str | None
) -> ShipmentDetails:
    """The carrier, tracking number and link, trimmed; a link must be http(s)."""
    url = _text(tracking_url, "tracking_url", MAX_URL)
    if url is not None:
        parts = urlsplit(url)
        # Only a web link: javascript:, data: or file: in a message or on the page is an attack.
        unsafe = any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or unsafe:
            raise InvalidInput(
                f"tracking_url must be an http:// or https:// link, not {url[:80]!r}",
                field="tracking_url",
            )
    return ShipmentDetails(
        _text(carrier, "carrier", MAX_TEXT), _text(tracking, "tracking", MAX_TEXT), url
    )


def _text(value: str | None, field: str, limit: int) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", field=field)
    return value


def _check_amount(sku: str | None, quantity: int | None) -> None:
    if quantity is None:
        return
    if sku is None:
        raise InvalidInput("a quantity needs the sku of the line it ships from", field="sku")
    if quantity <= 0:
        raise InvalidInput(
            f"quantity must be a positive whole number, not {quantity}", field="quantity"
        )


def _lock_lines(session: Session, order: Order) -> list[OrderLine]:
    """The order's lines, locked and read fresh (another ship may just have committed)."""
    return list(
        session.scalars(
            select(OrderLine)
            .where(OrderLine.order_id == order.id)
            .order_by(OrderLine.id)
            .options(selectinload(OrderLine.product))
            .with_for_update(of=OrderLine)
            .execution_options(populate_existing=True)
        )
    )


def _unshipped(line: OrderLine) -> int:
    """Reserved units of the line that have not shipped: what it can ship now."""
    if line.status not in RESERVING_STATUSES:
        return 0
    return line.allocated_quantity - line.shipped_quantity


Plan = list[tuple[OrderLine, int]]


def _plan_order(order: Order, lines: Sequence[OrderLine]) -> Plan:
    plan = [(line, _unshipped(line)) for line in lines if _unshipped(line) > 0]
    if not plan:
        waiting = sum(
            line.backordered_quantity for line in lines if line.status in RESERVING_STATUSES
        )
        reason = (
            f"it is {order.status.value}"
            if order.status != OrderStatus.OPEN
            else f"its {waiting} open units wait for stock"
        )
        raise InvalidInput(
            f"order {order.number} has no reserved units to ship: {reason}", field="number"
        )
    return plan


def _plan_line(order: Order, lines: Sequence[OrderLine], sku: str, quantity: int | None) -> Plan:
    """``quantity`` (default: all reserved) units of ``sku``, oldest line first."""
    mine = [line for line in lines if line.product.sku == sku]
    if not mine:
        raise InvalidInput(f"order {order.number} has no line for {sku}", field="sku")
    live = [line for line in mine if line.status in RESERVING_STATUSES]
    if not live:
        raise InvalidInput(_why_finished(order, mine[-1]), field="sku")
    available = sum(_unshipped(line) for line in live)
    wanted = available if quantity is None else quantity
    if available == 0 or wanted > available:
        raise InvalidInput(
            f"only {available} units of {sku} in order {order.number} are reserved and not"
            f" shipped, so {wanted or 'none'} cannot ship; units on backorder ship once they"
            " are in stock",
            field="quantity" if quantity is not None else "sku",
        )
    plan: Plan = []
    for line in live:
        units = min(_unshipped(line), wanted)
        if units > 0:
            plan.append((line, units))
            wanted -= units
    return plan


def _why_finished(order: Order, line: OrderLine) -> str:
    name = f"the {line.product.sku} line of order {order.number}"
    if line.status == LineStatus.SHIPPED:
        return f"{name} has already shipped in full"
    if line.status == LineStatus.SWITCHED:
        return f"{name} was switched to another product: ship its replacement line instead"
    return f"{name} is cancelled: it cannot ship"


def _repeat(session: Session, order: Order, key: str, digest: str) -> Shipment | None:
    """The shipment made earlier with this key, if the request is the same one."""
    found = session.scalars(select(Shipment).where(Shipment.idempotency_key == key)).first()
    if found is None:
        return None
    if found.order_id != order.id or found.request_digest != digest:
        raise Conflict(f"idempotency key {key!r} was already used for a different shipment")
    return found


def _digest(sku: str | None, quantity: int | None, details: ShipmentDetails) -> str:
    content = [sku, quantity, details.carrier, details.tracking, details.tracking_url]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def _record(
    session: Session,
    shipment: Shipment,
    plan: Plan,
    details: ShipmentDetails,
    *,
    completed: bool,
) -> None:
    """One ``shipped`` event per shipment, on its first line, listing every line shipped."""
    items = [
        {"sku": line.product.sku, "name": line.product.name, "quantity": units}
        for line, units in plan
    ]
    events.record(
        session,
        EventKind.SHIPPED,
        plan[0][0],
        shipment_id=shipment.id,
        carrier=details.carrier,
        tracking=details.tracking,
        tracking_url=details.tracking_url,
        items=items,
        order_completed=completed,
    )
