"""What an agent may do for one customer right now, read in one short session for the
customer page's action forms (``templates/web/agent/_customer_actions.html``).

The cancel quote is ``store.refunds.refund_preview``, the amount ``cancel_line`` will record,
so what the agent confirms is what the customer is refunded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.agents.acting import RETRYABLE
from store.models import (
    LineStatus,
    Offer,
    OfferStatus,
    Order,
    OrderLine,
    OrderPageLink,
    OutboxMessage,
)
from store.refunds import refund_preview

MAX_ORDERS = 20
MAX_MESSAGES = 20


@dataclass(frozen=True, slots=True)
class LineOptions:
    line_id: int
    order_number: str
    sku: str
    status: str
    offer_id: int | None  # an open, unexpired offer: wait / switch / cancel apply to it
    can_switch: bool
    can_cancel: bool
    refund_minor: int
    currency: str
    shippable: int  # reserved units not shipped yet


@dataclass(frozen=True, slots=True)
class OrderOptions:
    number: str
    link_live: bool


@dataclass(frozen=True, slots=True)
class RetryableMessage:
    id: int
    channel: str
    message: str
    status: str
    last_error: str | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Options:
    lines: list[LineOptions]
    orders: list[OrderOptions]
    messages: list[RetryableMessage]


def options(session: Session, customer_id: int, now: dt.datetime) -> Options:
    orders = list(
        session.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(MAX_ORDERS)
            .options(selectinload(Order.lines).selectinload(OrderLine.product))
        )
    )
    open_offers = _open_offers(session, customer_id, now)
    lines = [
        _line(order, line, open_offers.get(line.id)) for order in orders for line in order.lines
    ]
    live = set(
        session.scalars(
            select(OrderPageLink.order_id).where(
                OrderPageLink.order_id.in_([o.id for o in orders]),
                OrderPageLink.revoked_at.is_(None),
            )
        )
    )
    return Options(
        lines=[line for line in lines if line.can_cancel or line.shippable or line.offer_id],
        orders=[OrderOptions(o.number, o.id in live) for o in orders],
        messages=_retryable(session, customer_id),
    )


def _open_offers(session: Session, customer_id: int, now: dt.datetime) -> dict[int, Offer]:
    offers = session.scalars(
        select(Offer).where(
            Offer.customer_id == customer_id,
            Offer.status == OfferStatus.OPEN,
            Offer.expires_at > now,
        )
    )
    return {offer.line_id: offer for offer in offers}


def _line(order: Order, line: OrderLine, offer: Offer | None) -> LineOptions:
    waiting = line.status in (LineStatus.BACKORDERED, LineStatus.ALLOCATED)
    return LineOptions(
        line_id=line.id,
        order_number=order.number,
        sku=line.product.sku,
        status=line.status.value,
        offer_id=offer.id if offer is not None else None,
        can_switch=offer is not None and offer.alternative_product_id is not None,
        can_cancel=waiting,
        refund_minor=refund_preview(line),
        currency=line.currency or line.product.currency,
        shippable=max(0, line.allocated_quantity - line.shipped_quantity) if waiting else 0,
    )


def _retryable(session: Session, customer_id: int) -> list[RetryableMessage]:
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.customer_id == customer_id, OutboxMessage.status.in_(RETRYABLE))
        .order_by(OutboxMessage.id.desc())
        .limit(MAX_MESSAGES)
    )
    return [
        RetryableMessage(
            r.id, r.channel.value, r.message, r.status.value, r.last_error, r.created_at
        )
        for r in rows
    ]
