"""What the order page shows, as plain data: read in one session, rendered after it closed.

Only what the token's holder may see: the customer's first name (never the phone, address or
e-mail), the order's lines with their timeline, the open offer's choices and what was decided.
Words are not made here: steps and choices are named by kind, and the templates say them in
the customer's language.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.order_views import line_eta, offer_view
from messaging.render import ENVIRONMENT as MESSAGE_ENVIRONMENT
from store.models import LineStatus, Offer, OfferStatus, Order, OrderLine, Shipment
from store.queries import open_offer

__all__ = ["OrderPage", "load_order_page"]

# Everything the page reads, loaded up front: the view is built without lazy loads.
_LOADS = (
    selectinload(Order.customer),
    selectinload(Order.lines).selectinload(OrderLine.product),
    selectinload(Order.lines).selectinload(OrderLine.offers).selectinload(Offer.alternative),
    selectinload(Order.shipments).selectinload(Shipment.lines),
)
_DECIDED = (OfferStatus.ACCEPTED, OfferStatus.EXPIRED)


@dataclass(frozen=True, slots=True)
class OrderPage:
    """The page's data. ``lines`` and ``customer`` are dicts in the templates' shape."""

    order_id: int
    number: str
    placed_at: dt.datetime
    locale: str
    customer: dict[str, str]  # first name and time zone only
    lines: list[dict[str, Any]]

    def open_offer(self, offer_id: int) -> dict[str, Any] | None:
        """The open offer ``offer_id`` of one of this order's lines, if there is one."""
        for line in self.lines:
            offer = line["offer"]
            if offer is not None and offer["id"] == offer_id:
                return dict(offer, line=line)
        return None


def load_order_page(session: Session, order_id: int, now: dt.datetime) -> OrderPage:
    order = session.scalars(select(Order).where(Order.id == order_id).options(*_LOADS)).one()
    customer = order.customer
    names = {line.id: line.product.name for line in order.lines}
    first_name = MESSAGE_ENVIRONMENT.filters["first_name"](customer.name)
    return OrderPage(
        order_id=order.id,
        number=order.number,
        placed_at=order.placed_at,
        locale=customer.locale,
        customer={"name": first_name, "timezone": customer.timezone},
        lines=[
            _line(line, order.placed_at, names, _parcels(order.shipments, line.id), now)
            for line in order.lines
        ],
    )


def _parcels(shipments: list[Shipment], line_id: int) -> list[dict[str, Any]]:
    """The shipments that carried units of one line: when, how many, with whom, the link."""
    return [
        {
            "date": shipment.created_at,
            "quantity": item.quantity,
            "carrier": shipment.carrier,
            "tracking": shipment.tracking_number,
            "tracking_url": shipment.tracking_url,
        }
        for shipment in shipments
        for item in shipment.lines
        if item.line_id == line_id
    ]


def _line(
    line: OrderLine,
    placed_at: dt.datetime,
    names: dict[int, str],
    parcels: list[dict[str, Any]],
    now: dt.datetime,
) -> dict[str, Any]:
    offer = open_offer(line)
    decided = [o for o in line.offers if o.status in _DECIDED]
    return {
        "id": line.id,
        "product_name": line.product.name,
        "quantity": line.quantity,
        "status": line.status.value,
        "steps": _steps(line, placed_at, parcels),
        "replaces": names.get(line.replaces_line_id) if line.replaces_line_id else None,
        "replaced_by": names.get(line.replaced_by_line_id) if line.replaced_by_line_id else None,
        # An offer past its time is decided by the sweep (or by the next reply): no buttons.
        "offer": _choices(offer) if offer is not None and offer.expires_at > now else None,
        "decision": _decision(decided[-1]) if decided else None,
    }


def _steps(
    line: OrderLine, placed_at: dt.datetime, parcels: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The line's timeline: ordered, backordered (if it ever waited), then where it ended.

    Each step is ``done``, ``current``, ``partial`` (some units shipped, more to come) or
    ``todo``; the backordered step carries the supplier's date, the first date given and how
    often the date moved; the shipped step the units shipped and each parcel's tracking.
    """
    status = line.status
    steps: list[dict[str, Any]] = [_step("ordered", "done", date=placed_at)]
    waited = status == LineStatus.BACKORDERED or line.first_eta is not None or bool(line.offers)
    if waited:
        steps.append(
            _step(
                "backordered",
                "current" if status == LineStatus.BACKORDERED else "done",
                eta=line_eta(line),
                first_eta=line.first_eta,
                moves=line.eta_slips,
            )
        )
    shipped = _shipped_step(line, parcels)
    if status in (LineStatus.SWITCHED, LineStatus.CANCELLED):
        # A line given up after part of it shipped still shows what reached the customer.
        ended = [shipped] if parcels else []
        return [*steps, *ended, _step(status.value, "current")]
    allocated = {LineStatus.ALLOCATED: "current", LineStatus.SHIPPED: "done"}
    steps.append(_step("allocated", allocated.get(status, "todo")))
    steps.append(shipped)
    return steps


def _shipped_step(line: OrderLine, parcels: list[dict[str, Any]]) -> dict[str, Any]:
    partly = "partial" if parcels else "todo"
    state = "current" if line.status == LineStatus.SHIPPED else partly
    date = parcels[-1]["date"] if parcels else None
    return {
        "kind": "shipped",
        "state": state,
        "date": date,
        "shipped": line.shipped_quantity,
        "parcels": parcels,
    }


def _step(kind: str, state: str, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "state": state, "date": None, **data}


def _choices(offer: Offer) -> dict[str, Any]:
    """The open offer as in messages, plus what switching costs or saves for the whole line."""
    view = offer_view(offer)
    difference = None
    if view["alternative_price_cents"] is not None and offer.alternative is not None:
        per_unit = offer.alternative.price_cents - offer.line.product.price_cents
        difference = per_unit * offer.line.quantity
    return {**view, "eta": line_eta(offer.line), "price_difference_cents": difference}


def _decision(offer: Offer) -> dict[str, Any]:
    view = offer_view(offer)
    return {
        **view,
        "decided_at": offer.decided_at,
        "by_default": offer.status is OfferStatus.EXPIRED,
    }
