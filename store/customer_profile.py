"""Who a customer is, as much as an agent needs: contact, consent per channel, Telegram link,
and their orders with each line's status (newest order first)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from store.models import Customer, Offer, OfferStatus, Order, OrderLine, ReachState

__all__ = ["ChannelConsent", "LineSummary", "OrderSummary", "Profile", "profile"]

MAX_ORDERS = 100


@dataclass(frozen=True, slots=True)
class ChannelConsent:
    """Whether this channel may be used, and since when. Only ``active`` may be sent to."""

    state: ReachState
    changed_at: dt.datetime | None
    consent_at: dt.datetime | None
    address_known: bool  # a phone number for SMS, a linked chat for Telegram


@dataclass(frozen=True, slots=True)
class LineSummary:
    id: int
    sku: str
    product_name: str
    quantity: int
    allocated_quantity: int
    backordered_quantity: int
    shipped_quantity: int
    status: str
    eta: dt.date | None
    open_offer_expires_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class OrderSummary:
    number: str
    placed_at: dt.datetime
    status: str
    lines: list[LineSummary]


@dataclass(frozen=True, slots=True)
class Profile:
    id: int
    name: str
    phone: str | None
    email: str | None
    locale: str
    timezone: str
    preferred_channel: str
    created_at: dt.datetime
    sms: ChannelConsent
    telegram: ChannelConsent
    orders: list[OrderSummary]
    more_orders: bool


def profile(session: Session, customer_id: int) -> Profile | None:
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    orders = list(
        session.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(MAX_ORDERS + 1)
            .options(
                selectinload(Order.lines).selectinload(OrderLine.product),
                selectinload(Order.lines).selectinload(OrderLine.offers),
            )
        )
    )
    return Profile(
        id=customer.id,
        name=customer.name,
        phone=customer.phone,
        email=customer.email,
        locale=customer.locale,
        timezone=customer.timezone,
        preferred_channel=customer.preferred_channel.value,
        created_at=customer.created_at,
        sms=ChannelConsent(
            customer.sms_state,
            customer.sms_state_changed_at,
            customer.sms_consent_at,
            customer.phone is not None,
        ),
        telegram=ChannelConsent(
            customer.telegram_state,
            customer.telegram_state_changed_at,
            customer.telegram_consent_at,
            customer.telegram_chat_id is not None,
        ),
        orders=[_order(o) for o in orders[:MAX_ORDERS]],
        more_orders=len(orders) > MAX_ORDERS,
    )


def _order(order: Order) -> OrderSummary:
    return OrderSummary(
        number=order.number,
        placed_at=order.placed_at,
        status=order.status.value,
        lines=[_line(line) for line in order.lines],
    )


def _line(line: OrderLine) -> LineSummary:
    offer = _open_offer(line.offers)
    return LineSummary(
        id=line.id,
        sku=line.product.sku,
        product_name=line.product.name,
        quantity=line.quantity,
        allocated_quantity=line.allocated_quantity,
        backordered_quantity=line.backordered_quantity,
        shipped_quantity=line.shipped_quantity,
        status=line.status.value,
        eta=line.eta,
        open_offer_expires_at=offer.expires_at if offer is not None else None,
    )


def _open_offer(offers: list[Offer]) -> Offer | None:
    return next((o for o in offers if o.status == OfferStatus.OPEN), None)
