"""Supplier dates: history, the change threshold, and who must be told."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session

from store import events
from store.delay_terms import RULE_WINDOW_DAYS, delay_terms
from store.errors import InvalidInput, NotFound
from store.locking import lock_products
from store.models import EtaChange, EventKind, LineStatus, Order, OrderLine, Product
from store.notice_batch import NoticedLine, WaitingLine, record_delay_notices
from store.offer_batch import expire_loaded
from store.offers import make_offer
from store.policy import Policy

# A supplier date further out than this is a typo (2062 for 2026) far more often than a plan;
# two years covers the longest lead times a shop quotes to customers.
MAX_DAYS_AHEAD = 730


def shop_today(now: dt.datetime, policy: Policy) -> dt.date:
    """The shop's date at ``now``: a New York shop's 1 Nov lasts until 05:00 UTC on 2 Nov."""
    return now.astimezone(ZoneInfo(policy.timezone)).date()


def check_new_date(date: dt.date | None, today: dt.date, *, field: str = "eta") -> None:
    """Refuse a supplier date that customers could not be told: in the past, or absurdly far.

    Every writer of supplier dates calls this before writing anything (``set_eta``,
    ``record_purchase_order``); ``None`` ("no date any more") is always allowed.
    """
    if date is None:
        return
    if date < today:
        raise InvalidInput(
            f"{field} {date.isoformat()} is in the past (today is {today.isoformat()} "
            "in the shop's time zone); give today or a later date",
            field=field,
        )
    if date > today + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidInput(
            f"{field} {date.isoformat()} is more than 2 years ahead "
            f"({MAX_DAYS_AHEAD} days after {today.isoformat()}); check the year",
            field=field,
        )


@dataclass(slots=True)
class EtaResult:
    product: Product
    old_eta: dt.date | None
    changed_line_ids: list[int] = field(default_factory=list)  # customers told of a new date
    delay_lines: list[NoticedLine] = field(default_factory=list)  # told through a delay notice


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
    check_new_date(eta, shop_today(now, policy))
    product = session.scalars(select(Product).where(Product.sku == sku)).first()
    if product is None:
        raise NotFound(f"unknown sku {sku!r}")
    lock_products(session, [product.id])  # first, before its lines (``store.locking``)
    session.refresh(product)
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
                created_at=now,  # the scorecard's promise times follow the caller's clock
            )
        )
        product.eta = eta
    waiting = _waiting_lines(session, product.id)
    moved = [row for row in waiting if _moves_enough(row.eta, eta, policy.eta_threshold_days)]
    _move_dates(session, [row.id for row in moved], eta)
    notice_ids = [row.id for row in moved if _needs_notice(row, eta, now, policy)]
    notices = set(notice_ids)
    changed = [row for row in moved if row.id not in notices]
    # Fan-out: what may be 100,000 events in one bulk insert, no ORM object per line.
    if changed:
        events.insert_many(
            session,
            [
                {
                    "kind": EventKind.ETA_CHANGED.value,
                    "customer_id": row.customer_id,
                    "order_id": row.order_id,
                    "line_id": row.id,
                    "product_id": product.id,
                    "payload": events.payload_of(old_eta=row.eta, eta=eta, reason=reason),
                    "created_at": now,
                }
                for row in changed
            ],
        )
    result.changed_line_ids = [row.id for row in changed]
    # First dates as _move_dates just set them; notices in line order, as events always were.
    noticed = sorted(
        (
            row._replace(first_eta=eta if row.first_eta is None else row.first_eta)
            for row in moved
            if row.id in notices
        ),
        key=lambda row: row.id,
    )
    result.delay_lines = record_delay_notices(
        session, product, noticed, now, policy, shop_today(now, policy)
    )
    return result


def _waiting_lines(session: Session, product_id: int) -> list[WaitingLine]:
    rows = session.execute(
        select(
            OrderLine.id,
            OrderLine.eta,
            OrderLine.delay_notice_at,
            Order.id,
            Order.customer_id,
            Order.placed_at,
            OrderLine.first_eta,
            OrderLine.delay_notices,
            OrderLine.quantity,
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.product_id == product_id, OrderLine.status == LineStatus.BACKORDERED)
        .order_by(Order.placed_at, OrderLine.id)
        .with_for_update(of=OrderLine, key_share=True)
    )
    return [WaitingLine(*row) for row in rows]


def _move_dates(session: Session, line_ids: list[int], eta: dt.date | None) -> None:
    """Set the new date on many lines in a few statements; a later date counts as a slip."""
    slipped: Any = OrderLine.eta_slips
    if eta is not None:
        slipped = case(
            (and_(OrderLine.eta.is_not(None), OrderLine.eta < eta), OrderLine.eta_slips + 1),
            else_=OrderLine.eta_slips,
        )
    expire_loaded(session, OrderLine, line_ids, "id")
    for start in range(0, len(line_ids), 5000):
        session.execute(
            update(OrderLine)
            .where(OrderLine.id.in_(line_ids[start : start + 5000]))
            .values(eta_slips=slipped, eta=eta, first_eta=func.coalesce(OrderLine.first_eta, eta))
            .execution_options(synchronize_session=False)
        )


def _needs_notice(row: WaitingLine, eta: dt.date | None, now: dt.datetime, policy: Policy) -> bool:
    """A delay notice (not a plain date change) for a line already noticed whose date slips
    again or is lost; for a line waiting past the delay threshold; and for a line whose new
    date is past the date it was promised (or lost), since 16 CFR 435.2(b) wants the option
    notice as soon as the shop knows it cannot ship in time, not 30 days later. An earlier
    date for a noticed line is good news: a renewed notice would make silence cancel it."""
    if row.delay_notice_at is not None:
        return eta is None or (row.eta is not None and eta > row.eta)
    if now - row.placed_at >= dt.timedelta(days=policy.delay_notice_days):
        return True
    promised = row.first_eta or (row.placed_at + dt.timedelta(days=RULE_WINDOW_DAYS)).date()
    return eta is None or eta > promised


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
    """Tell a late line's customer the revised date and offer the choices again, with cancel.

    What the notice says and what silence does follow the mail-order rule (``delay_terms``):
    the offer's default is what the customer's silence means for this kind of notice.
    """
    terms = delay_terms(line, shop_today(now, policy))
    offer = make_offer(session, line, policy, now, default_choice=terms.silence)
    # From now on the customer was told this date (or none): a passed one is never repeated.
    line.eta = terms.revised
    line.delay_notice_at = now
    line.delay_notice_eta = terms.revised
    line.delay_notices += 1
    events.record(
        session,
        EventKind.DELAY_NOTICE,
        line,
        offer=offer,
        eta=terms.revised,
        notice=terms.kind.value,
        silence=terms.silence.value,
        original_eta=terms.original,
        placed_at=line.order.placed_at,
        notices=line.delay_notices,
    )
