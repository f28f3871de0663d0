"""How an order and its offers look to the customer: the shapes of the message render contexts.

Shared by the conversation (status replies, confirmations) and the order page, so that a reply
by SMS and the page say the same thing about the same order. The shapes are those of
``messaging.notifier._context`` and the context contract in ``messaging.render``.
Objects must come loaded (see ``bot.conversation.lookups.ORDER_LOADS``): nothing here queries.

Also here, :func:`order_record`: the same order as the shop's systems and agents see it (the
JSON API, ``orders show``), with quantities and ids rather than sentences.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from store.models import Offer, Order, OrderLine, Shipment
from store.money import line_discount
from store.queries import open_offer
from store.refunds import cancel_scope, refund_preview, unit_price

__all__ = [
    "line_eta",
    "offer_context",
    "offer_record",
    "offer_view",
    "order_record",
    "order_view",
    "shipment_record",
]


def offer_context(offer: Offer) -> dict[str, Any]:
    """The ``order``, ``line``, ``eta`` and ``offer`` of a message about one offer."""
    line = offer.line
    return {
        "order": {"number": line.order.number},
        "line": {
            "product_name": line.product.name,
            "sku": line.product.sku,
            "quantity": line.quantity,
            "backordered_quantity": line.backordered_quantity,
        },
        "eta": line_eta(line),
        "offer": offer_view(offer),
    }


def offer_view(offer: Offer) -> dict[str, Any]:
    line = offer.line
    alternative = offer.alternative
    # Another currency's amount would be shown under this one's symbol: leave it out.
    currency = line.currency or line.product.currency
    priced = alternative is not None and alternative.currency == currency
    return {
        "id": offer.id,
        "discount_percent": offer.discount_percent,
        "price_minor": unit_price(line),
        "discount_minor": line_discount(unit_price(line), line.quantity, offer.discount_percent),
        "alternative_name": alternative.name if alternative is not None else None,
        "alternative_price_cents": alternative.price_cents if priced and alternative else None,
        "currency": currency,
        "expires_at": offer.expires_at,
        "coupon_code": offer.coupon_code,
        "applied_choice": offer.choice.value if offer.choice is not None else None,
        "order_number": line.order.number,
        "product_name": line.product.name,
        # What "cancel" does: the late item, or the order when nothing else is left in it.
        "cancels_order": cancel_scope(line).whole_order,
        "refund_cents": refund_preview(line),
    }


def order_view(order: Order, now: dt.datetime) -> dict[str, Any]:
    offers: Sequence[Offer] = [
        offer
        for offer in (open_offer(line) for line in order.lines)
        if offer is not None and offer.expires_at > now
    ]
    return {
        "number": order.number,
        "lines": [
            {
                "product_name": line.product.name,
                "quantity": line.quantity,
                "status": line.status.value,
                "eta": line_eta(line),
            }
            for line in order.lines
        ],
        # The template shows one offer; with several, a reply is asked "which?" anyway.
        "offer": offer_view(offers[0]) if offers else None,
    }


def line_eta(line: OrderLine) -> dt.date | None:
    """The date the customer was told, else the supplier's current one."""
    return line.eta or line.product.eta


def order_record(order: Order, *, with_phone: bool = False) -> dict[str, Any]:
    """An order for the API and the CLI: each line's quantities, status, ETA and open offer.

    ``with_phone``: the customer's phone too (the CLI, run by the shop; the API leaves it out).
    """
    customer: dict[str, Any] = {"name": order.customer.name}
    if with_phone:
        customer["phone"] = order.customer.phone
    return {
        "number": order.number,
        "status": order.status.value,
        "placed_at": order.placed_at.isoformat(),
        "customer": customer,
        "lines": [_line_record(line) for line in order.lines],
        "shipments": [shipment_record(shipment) for shipment in order.shipments],
    }


def shipment_record(shipment: Shipment) -> dict[str, Any]:
    """A shipment for the API and the CLI: when, with whom, how to track it, what went."""
    return {
        "id": shipment.id,
        "created_at": shipment.created_at.isoformat(),
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
        "lines": [
            {"sku": item.line.product.sku, "quantity": item.quantity} for item in shipment.lines
        ],
    }


def _line_record(line: OrderLine) -> dict[str, Any]:
    offer = open_offer(line)
    return {
        "sku": line.product.sku,
        "name": line.product.name,
        "quantity": line.quantity,
        "allocated": line.allocated_quantity,
        "backordered": line.backordered_quantity,
        "shipped": line.shipped_quantity,
        "status": line.status.value,
        "eta": line.eta.isoformat() if line.eta else None,
        "eta_slips": line.eta_slips,
        "open_offer": offer_record(offer) if offer is not None else None,
    }


def offer_record(offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.id,
        "discount_percent": offer.discount_percent,
        "alternative_sku": offer.alternative.sku if offer.alternative else None,
        "expires_at": offer.expires_at.isoformat(),
    }
