"""Domain events -> outbox rows: the right message, in the customer's language, on a channel
that reaches them, written in the same transaction that marks the event handled.

Batched for fan-out: one query per kind of row for a whole batch of events, rendering, then one
executemany into the outbox and one UPDATE for the events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from messaging.outbox import QueuedMessage, enqueue
from messaging.render import render_message
from store.models import (
    Channel,
    Customer,
    DomainEvent,
    EventKind,
    Offer,
    OfferChoice,
    OrderLine,
    Product,
    ReachState,
)

# Which message an event becomes; None: recorded for agents and reports, not sent.
MESSAGES: dict[str, str | None] = {
    EventKind.BACKORDERED: "backorder_notice",
    EventKind.ETA_CHANGED: "eta_changed",
    EventKind.DELAY_NOTICE: "delay_notice",
    EventKind.READY_TO_SHIP: "ready_to_ship",
    EventKind.PARTIALLY_ALLOCATED: None,  # the customer hears when the whole line can ship
    EventKind.OFFER_EXPIRED: "offer_expired",
    EventKind.OFFER_ACCEPTED: None,  # chosen per choice below
}
CONFIRMATIONS = {
    OfferChoice.WAIT.value: "wait_confirmed",
    OfferChoice.SWITCH.value: "switch_confirmed",
    OfferChoice.CANCEL.value: "cancel_confirmed",
}


@dataclass(frozen=True, slots=True)
class ShopVoice:
    """What every message may mention about the shop."""

    shop_name: str
    support_contact: str


@dataclass(frozen=True, slots=True)
class NotifyResult:
    events: int
    queued: int
    silent: int  # events that need no message
    unreachable: int  # events whose customer no channel reaches


def reachable_channel(customer: Customer) -> tuple[Channel, str] | None:
    """The preferred channel if it reaches the customer, else the other one, else None."""
    order = [customer.preferred_channel] + [
        c for c in (Channel.SMS, Channel.TELEGRAM) if c != customer.preferred_channel
    ]
    for channel in order:
        if channel == Channel.SMS and customer.phone and customer.sms_state == ReachState.ACTIVE:
            return channel, customer.phone
        if (
            channel == Channel.TELEGRAM
            and customer.telegram_chat_id is not None
            and customer.telegram_state == ReachState.ACTIVE
        ):
            return channel, str(customer.telegram_chat_id)
    return None


def notify_pending(
    session: Session, voice: ShopVoice, now: dt.datetime, *, limit: int = 1000
) -> NotifyResult:
    """Turn up to ``limit`` unhandled events into outbox rows; the caller commits."""
    events = session.scalars(
        select(DomainEvent)
        .where(DomainEvent.handled_at.is_(None))
        .order_by(DomainEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not events:
        return NotifyResult(0, 0, 0, 0)
    loaded = _Loaded.fetch(session, events)
    queued: list[QueuedMessage] = []
    silent = unreachable = 0
    for event in events:
        message = _message_for(event)
        customer = loaded.customers.get(event.customer_id or 0)
        if message is None or customer is None:
            silent += 1
            continue
        route = reachable_channel(customer)
        if route is None:
            unreachable += 1
            continue
        channel, address = route
        context = loaded.context(event, customer, voice)
        rendered = render_message(message, channel, customer.locale, **context)
        queued.append(
            QueuedMessage(
                dedupe_key=f"event:{event.id}:customer:{customer.id}",
                customer_id=customer.id,
                channel=channel,
                address=address,
                message=message,
                locale=customer.locale,
                body=rendered.text,
                buttons=[[b.label, b.data] for b in rendered.buttons] or None,
                event_id=event.id,
                # A confirmation answers something the customer just did: quiet hours don't apply.
                urgent=event.kind == EventKind.OFFER_ACCEPTED,
            )
        )
    enqueue(session, queued, now)
    session.execute(
        update(DomainEvent)
        .where(DomainEvent.id.in_([e.id for e in events]))
        .values(handled_at=now)
        .execution_options(synchronize_session=False)
    )
    return NotifyResult(len(events), len(queued), silent, unreachable)


def _message_for(event: DomainEvent) -> str | None:
    if event.kind == EventKind.OFFER_ACCEPTED:
        return CONFIRMATIONS.get(str(event.payload.get("choice")))
    return MESSAGES.get(event.kind)


@dataclass(slots=True)
class _Loaded:
    """Everything a batch of events refers to, fetched with one query per table."""

    customers: dict[int, Customer]
    lines: dict[int, OrderLine]
    offers: dict[int, Offer]

    @classmethod
    def fetch(cls, session: Session, events: Iterable[DomainEvent]) -> _Loaded:
        events = list(events)
        customer_ids = {e.customer_id for e in events if e.customer_id is not None}
        line_ids = {e.line_id for e in events if e.line_id is not None}
        offer_ids = {e.offer_id for e in events if e.offer_id is not None}
        customers = session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))
        lines = session.scalars(
            select(OrderLine)
            .where(OrderLine.id.in_(line_ids))
            .options(selectinload(OrderLine.order), selectinload(OrderLine.product))
        )
        offers = session.scalars(
            select(Offer).where(Offer.id.in_(offer_ids)).options(selectinload(Offer.alternative))
        )
        return cls(
            {c.id: c for c in customers},
            {line.id: line for line in lines},
            {o.id: o for o in offers},
        )

    def context(self, event: DomainEvent, customer: Customer, voice: ShopVoice) -> dict[str, Any]:
        line = self.lines.get(event.line_id or 0)
        offer = self.offers.get(event.offer_id or 0)
        context: dict[str, Any] = {
            "shop_name": voice.shop_name,
            "support_contact": voice.support_contact,
            "customer": {"name": customer.name, "timezone": customer.timezone},
        }
        if line is not None:
            context["order"] = {"number": line.order.number}
            context["line"] = {
                "product_name": line.product.name,
                "sku": line.product.sku,
                "quantity": line.quantity,
                "backordered_quantity": line.backordered_quantity
                or int(event.payload.get("backordered", 0)),
            }
            context["eta"] = _date(event.payload.get("eta", line.eta))
            context["old_eta"] = _date(event.payload.get("old_eta"))
        if offer is not None:
            context["offer"] = _offer_view(offer, line.product if line else None, event)
        return context


def _offer_view(offer: Offer, product: Product | None, event: DomainEvent) -> dict[str, Any]:
    alternative = offer.alternative
    return {
        "id": offer.id,
        "discount_percent": offer.discount_percent,
        "alternative_name": alternative.name if alternative else None,
        "alternative_price_cents": alternative.price_cents if alternative else None,
        "currency": product.currency if product else "USD",
        "expires_at": offer.expires_at,
        "coupon_code": offer.coupon_code,
        "applied_choice": event.payload.get("choice"),
    }


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
