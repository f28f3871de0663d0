"""Supplier dates: history, the change threshold, and who must be told."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from store import events
from store.errors import NotFound
from store.models import EtaChange, EventKind, LineStatus, Order, OrderLine, Product
from store.offers import make_offer
from store.policy import Policy


@dataclass(slots=True)
class EtaResult:
    product: Product
    old_eta: dt.date | None
    changed_lines: list[OrderLine] = field(default_factory=list)  # customers told of a new date
    delay_lines: list[OrderLine] = field(default_factory=list)  # told through a delay notice


def set_eta(
    session: Session,
    sku: str,
    eta: dt.date | None,
    *,
    source: str,
    policy: Policy,
    now: dt.datetime,
    reason: str | None = None,
    purchase_order_line_id: int | None = None,
) -> EtaResult:
    """Record a supplier's new date for a product and tell the waiting customers, once.

    The date every waiting line was last told is compared with the new one; only lines where it
    moves by at least ``policy.eta_threshold_days`` get an ``eta_changed`` event (or, for lines
    already past the delay threshold or already noticed, a ``delay_notice`` with a fresh cancel
    option instead, so the customer hears about one slip once).
    """
    product = session.scalars(select(Product).where(Product.sku == sku).with_for_update()).first()
    if product is None:
        raise NotFound(f"unknown sku {sku!r}")
    result = EtaResult(product=product, old_eta=product.eta)
    if product.eta != eta:
        session.add(
            EtaChange(
                product_id=product.id,
                old_eta=product.eta,
                new_eta=eta,
                source=source,
                reason=reason,
                purchase_order_line_id=purchase_order_line_id,
            )
        )
        product.eta = eta
    for line in _waiting_lines(session, product.id):
        if not _moves_enough(line.eta, eta, policy.eta_threshold_days):
            continue
        old = line.eta
        if old is not None and eta is not None and eta > old:
            line.eta_slips += 1
        line.eta = eta
        if line.first_eta is None:
            line.first_eta = eta
        if line.delay_notice_at is not None or is_past_delay_threshold(line, now, policy):
            record_delay_notice(session, line, now, policy)
            result.delay_lines.append(line)
        else:
            events.record(session, EventKind.ETA_CHANGED, line, old_eta=old, eta=eta, reason=reason)
            result.changed_lines.append(line)
    return result


def _waiting_lines(session: Session, product_id: int) -> list[OrderLine]:
    return list(
        session.scalars(
            select(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.product_id == product_id, OrderLine.status == LineStatus.BACKORDERED)
            .order_by(Order.placed_at, OrderLine.id)
            .options(contains_eager(OrderLine.order))
            .with_for_update(of=OrderLine)
        )
    )


def _moves_enough(told: dt.date | None, new: dt.date | None, threshold_days: int) -> bool:
    if told == new:
        return False
    if told is None or new is None:
        return True  # a first date, or "no date any more", is always news
    return abs((new - told).days) >= threshold_days


def is_past_delay_threshold(line: OrderLine, now: dt.datetime, policy: Policy) -> bool:
    waited = now - line.order.placed_at
    return waited >= dt.timedelta(days=policy.delay_notice_days)


def record_delay_notice(
    session: Session, line: OrderLine, now: dt.datetime, policy: Policy
) -> None:
    """Tell a long-waiting customer the revised date and offer the choices again, with cancel."""
    offer = make_offer(session, line, policy, now)
    line.delay_notice_at = now
    line.delay_notice_eta = line.eta
    line.delay_notices += 1
    events.record(
        session,
        EventKind.DELAY_NOTICE,
        line,
        offer=offer,
        eta=line.eta,
        placed_at=line.order.placed_at,
        notices=line.delay_notices,
    )
