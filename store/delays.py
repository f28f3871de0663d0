"""The delay rule (after the US FTC mail-order rule).

A line still waiting ``policy.delay_notice_days`` after the order, or past the date it was
promised, gets a ``delay_notice``: the revised date and the option to cancel. Once per slip: a
line is noticed again only when the date given in the last notice has itself passed (a supplier's
new date reaches customers who were already noticed through ``set_eta``, also as a delay notice).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, contains_eager

from store.eta import is_past_delay_threshold, record_delay_notice, shop_today
from store.locking import lock_products
from store.models import LineStatus, Order, OrderLine
from store.policy import Policy


def check_delays(session: Session, now: dt.datetime, policy: Policy) -> list[OrderLine]:
    """Record the delay notices that are due; return the lines noticed.

    The candidates' products are locked first, then the lines (re-read once locked), in the
    lock order of ``store.locking``: a notice supersedes offers a customer may be answering.
    """
    today = shop_today(now, policy)  # a date has passed when the shop's day is over
    oldest_placed = now - dt.timedelta(days=policy.delay_notice_days)
    waiting = (
        OrderLine.status == LineStatus.BACKORDERED,
        or_(Order.placed_at <= oldest_placed, OrderLine.eta < today),
    )
    found = session.execute(
        select(OrderLine.id, OrderLine.product_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(*waiting)
    ).all()
    if not found:
        return []
    lock_products(session, [product_id for _, product_id in found])
    candidates = session.scalars(
        select(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.id.in_([line_id for line_id, _ in found]), *waiting)
        .order_by(Order.placed_at, OrderLine.id)
        .options(contains_eager(OrderLine.order))
        .with_for_update(of=OrderLine, key_share=True)
        .execution_options(populate_existing=True)
    ).all()
    noticed = [line for line in candidates if _notice_due(line, now, policy)]
    for line in noticed:
        record_delay_notice(session, line, now, policy)
    return noticed


def _notice_due(line: OrderLine, now: dt.datetime, policy: Policy) -> bool:
    today = shop_today(now, policy)
    promised_passed = line.eta is not None and line.eta < today
    if line.delay_notice_at is None:
        return promised_passed or is_past_delay_threshold(line, now, policy)
    # Noticed before: due again only once the date it gave has come and gone.
    return promised_passed and line.eta is not None and line.delay_notice_at.date() <= line.eta
