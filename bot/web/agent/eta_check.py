"""How many customers a new date would tell, before the ETA form saves it.

The count comes from running ``store.eta.set_eta`` itself in a transaction that is then rolled
back: the same threshold, delay-notice and already-told rules as the real save, so the number
on the confirm step cannot drift from what saving does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from store.db import Database
from store.eta import set_eta
from store.models import Order, OrderLine
from store.policy import Policy


@dataclass(frozen=True, slots=True)
class WouldTell:
    """What saving the date would do: customers and lines told (by a new date or a notice)."""

    customers: int
    lines: int


class _RollBack(Exception):
    """Raised inside the dry run's transaction so nothing it wrote is kept."""

    def __init__(self, told: WouldTell) -> None:
        super().__init__("dry run")
        self.told = told


def would_tell(
    db: Database, sku: str, eta: dt.date, *, policy: Policy, now: dt.datetime
) -> WouldTell:
    """Raises ``NotFound`` and ``InvalidInput`` exactly as saving would."""
    try:
        with db.session() as session:
            result = set_eta(session, sku, eta, source="dashboard:check", policy=policy, now=now)
            line_ids = [*result.changed_line_ids, *(line.id for line in result.delay_lines)]
            customers = set(
                session.scalars(
                    select(Order.customer_id)
                    .join(OrderLine, OrderLine.order_id == Order.id)
                    .where(OrderLine.id.in_(line_ids))
                )
            )
            raise _RollBack(WouldTell(len(customers), len(line_ids)))
    except _RollBack as done:
        return done.told
