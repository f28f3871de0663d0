"""Where waiting costs customers: how long backordered lines wait, what customers choose by how
long they had waited, and the revenue kept and lost, per SKU, per supplier and per week.

A *backordered line* is an order line with ``backordered_at`` set: it could not be filled when
it was placed (``store.orders.place_order`` writes the moment). Every wait is measured from
that moment, in whole seconds, from columns written when things happen (``allocated_at``: the
last unit reserved; ``shipped_at``: the last unit shipped; ``offers.decided_at``), so each
figure is exact, not estimated.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Select,
    String,
    and_,
    case,
    func,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from store.analytics.common import (
    DAY,
    WAIT_BANDS_DAYS,
    Distribution,
    band_label,
    day_of,
    distribution,
    seconds_between,
    week_of,
)
from store.models import (
    LineStatus,
    Offer,
    OfferChoice,
    OfferStatus,
    OrderLine,
    Product,
    Refund,
    Supplier,
)

# The outcome of a backordered line, as it stands: "waited" (it waited and is now reserved or
# shipped), "switched", "cancelled", or "waiting" (still backordered: at risk, not yet kept).
KEPT_OUTCOMES = ("waited", "switched")
LOST_OUTCOMES = ("cancelled",)
OUTCOMES = ("waited", "switched", "cancelled", "waiting")


@dataclass(frozen=True, slots=True)
class Flow:
    """The three legs of a backordered line's way out, each over the lines that made it."""

    backorder_to_allocation: Distribution
    allocation_to_shipment: Distribution
    backorder_to_shipment: Distribution


def flow(session: Session) -> Flow:
    """Backorder -> allocation: lines with both moments (``allocated_at - backordered_at``);
    allocation -> shipment and backorder -> shipment: lines shipped whole after waiting."""
    line = OrderLine
    waited = line.backordered_at.is_not(None)
    to_alloc = seconds_between(session, line.allocated_at, line.backordered_at)
    to_ship = seconds_between(session, line.shipped_at, line.allocated_at)
    whole = seconds_between(session, line.shipped_at, line.backordered_at)
    # Through the session's Core connection: a row per line that waited, and the ORM's result
    # handling cost a fifth of the chart's time at a million lines for nothing it adds here.
    rows = (
        session.connection()
        .execute(select(to_alloc, to_ship, whole).where(waited, line.allocated_at.is_not(None)))
        .all()
    )
    allocated, shipped, whole_way = zip(*rows, strict=True) if rows else ((), (), ())
    return Flow(
        backorder_to_allocation=distribution(list(allocated)),
        allocation_to_shipment=distribution([s for s in shipped if s is not None]),
        backorder_to_shipment=distribution([s for s in whole_way if s is not None]),
    )


@dataclass(slots=True)
class BandChoices:
    """Decided offers whose line had waited ``band`` when they were decided."""

    band: str
    wait: int = 0
    switch: int = 0
    cancel: int = 0
    by_silence: int = 0  # of the above, decided by the offer's expiry (the default applied)

    @property
    def decisions(self) -> int:
        return self.wait + self.switch + self.cancel

    @property
    def cancel_rate(self) -> float | None:
        """Cancels / decisions in the band (None when nobody decided in it)."""
        return self.cancel / self.decisions if self.decisions else None


def choices_by_wait(session: Session) -> list[BandChoices]:
    """Every decided offer (accepted, or expired with its default applied) of a backordered
    line, by how long the line had waited at the decision (``decided_at - backordered_at``),
    in the bands of ``WAIT_BANDS_DAYS`` (closed-open: 7 days exactly is in 7-14d). Each round of
    choices counts: a line that waited at day 3 and cancelled at day 20 counts in both bands."""
    # Each wait is computed once, in a materialized CTE: inlined, SQLite would compute it once
    # per band tested and again to group (a third of the chart's time at a million lines).
    decisions = (
        select(
            seconds_between(session, Offer.decided_at, OrderLine.backordered_at).label("waited"),
            Offer.choice.label("choice"),
            case((Offer.decided_via == "expiry", 1), else_=0).label("silent"),
        )
        .join(OrderLine, OrderLine.id == Offer.line_id)
        .where(
            OrderLine.backordered_at.is_not(None),
            Offer.status.in_((OfferStatus.ACCEPTED, OfferStatus.EXPIRED)),
            Offer.choice.is_not(None),
        )
        .cte("decisions")
        .prefix_with("MATERIALIZED")
    )
    # The band is found by the database: a few groups come back, not a row per decision.
    band = case(
        *(
            (decisions.c.waited >= edge * DAY, i)
            for i, edge in reversed(list(enumerate(WAIT_BANDS_DAYS)))
        ),
        else_=0,
    )
    rows = session.execute(
        select(band, decisions.c.choice, func.count(), func.sum(decisions.c.silent)).group_by(
            band, decisions.c.choice
        )
    ).all()
    bands = [BandChoices(band_label(WAIT_BANDS_DAYS, i)) for i in range(len(WAIT_BANDS_DAYS))]
    for index, choice, count, by_silence in rows:
        found = bands[index]
        if choice == OfferChoice.WAIT:
            found.wait += count
        elif choice == OfferChoice.SWITCH:
            found.switch += count
        else:
            found.cancel += count
        found.by_silence += int(by_silence or 0)
    return bands


@dataclass(slots=True)
class Money:
    """Backordered lines and their value by outcome, in minor units of one currency."""

    lines: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    amount: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    def add(self, outcome: str, lines: int, amount: int) -> None:
        self.lines[outcome] += lines
        self.amount[outcome] += amount

    @property
    def kept(self) -> int:
        return sum(self.amount[o] for o in KEPT_OUTCOMES)

    @property
    def lost(self) -> int:
        return sum(self.amount[o] for o in LOST_OUTCOMES)


@dataclass(frozen=True, slots=True)
class Revenue:
    """``totals[currency]``, ``by_sku[sku][currency]``, ``by_supplier[name][currency]``,
    ``by_week[monday][currency]`` (weeks of the lines' ``backordered_at``, UTC)."""

    totals: dict[str, Money]
    by_sku: dict[str, dict[str, Money]]
    by_supplier: dict[str, dict[str, Money]]
    by_week: dict[dt.date, dict[str, Money]]


NO_SUPPLIER = "(no supplier)"


def revenue(session: Session) -> Revenue:
    """The value of every backordered line by its outcome, in its currency's minor units:

    - *cancelled* (lost): the line's refund, ``refunds.amount_cents`` in its currency (its
      unshipped units at the price sold);
    - *switched* (kept): the replacement line, its quantity x its unit price, in its currency;
    - *waited* (kept) and *waiting* (at risk): the line, quantity x ``unit_price_cents``.

    Lines without a price (placed before prices were kept) count as lines with amount 0.
    """
    skus = dict(session.execute(select(Product.id, Product.sku)).all())
    names = dict(
        session.execute(
            select(Product.id, func.coalesce(Supplier.name, NO_SUPPLIER)).outerjoin(
                Supplier, Supplier.id == Product.supplier_id
            )
        ).all()
    )
    money = _RevenueSums()
    for product_id, status, currency, lines, amount in session.execute(
        _own_value(session, by_day=False)
    ):
        money.add(skus[product_id], names[product_id], None, currency, status, lines, amount)
    for day, status, currency, lines, amount in session.execute(_own_value(session, by_day=True)):
        money.add(None, None, week_of(day), currency, status, lines, amount)
    for product_id, day, status, currency, lines, amount in session.execute(
        _replaced_value(session)
    ):
        if product_id is not None:
            money.add(skus[product_id], names[product_id], None, currency, status, lines, amount)
        else:
            money.add(None, None, week_of(day), currency, status, lines, amount)
    return money.revenue()


_OUTCOME_OF = {
    LineStatus.CANCELLED: "cancelled",
    LineStatus.SWITCHED: "switched",
    LineStatus.BACKORDERED: "waiting",
}
_REPLACED = (LineStatus.CANCELLED, LineStatus.SWITCHED)


class _RevenueSums:
    """Adds the queries' groups up per currency, SKU, supplier and week."""

    def __init__(self) -> None:
        self.totals: dict[str, Money] = defaultdict(Money)
        self.by_sku: dict[str, dict[str, Money]] = defaultdict(lambda: defaultdict(Money))
        self.by_supplier: dict[str, dict[str, Money]] = defaultdict(lambda: defaultdict(Money))
        self.by_week: dict[dt.date, dict[str, Money]] = defaultdict(lambda: defaultdict(Money))

    def add(
        self,
        sku: str | None,
        supplier: str | None,
        week: dt.date | None,
        currency: str | None,
        status: Any,
        lines: int,
        amount: int | None,
    ) -> None:
        """A group by SKU (and supplier) when ``sku`` is given, else by ``week``."""
        outcome = _OUTCOME_OF.get(LineStatus(status), "waited")
        currency, value = currency or "?", int(amount or 0)
        if sku is not None and supplier is not None:
            self.totals[currency].add(outcome, lines, value)
            self.by_sku[sku][currency].add(outcome, lines, value)
            self.by_supplier[supplier][currency].add(outcome, lines, value)
        if week is not None:
            self.by_week[week][currency].add(outcome, lines, value)

    def revenue(self) -> Revenue:
        """Plain dicts in key order (SKUs, suppliers, weeks and currencies), whatever order
        the queries' groups came in."""
        return Revenue(
            dict(sorted(self.totals.items())),
            {k: dict(sorted(v.items())) for k, v in sorted(self.by_sku.items())},
            {k: dict(sorted(v.items())) for k, v in sorted(self.by_supplier.items())},
            {k: dict(sorted(v.items())) for k, v in sorted(self.by_week.items())},
        )


def _own_value(session: Session, *, by_day: bool) -> Select[Any]:
    """Waited and still waiting lines: valued at their own price, so no join. Grouped per SKU
    in the order of ``ix_order_lines_backordered_product``, SQLite streams the groups; per day
    it reads ``ix_order_lines_backordered`` alone."""
    line = OrderLine
    key = day_of(session, line.backordered_at) if by_day else line.product_id
    return (
        select(key, line.status, line.currency, func.count(), func.sum(_own_amount()))
        .where(line.backordered_at.is_not(None), line.status.not_in(_REPLACED))
        .group_by(key, line.status, line.currency)
    )


def _status_text() -> Any:
    """The status as the stored text: no enum conversion per row (``_RevenueSums`` maps it)."""
    return type_coerce(OrderLine.status, String)


def _own_amount() -> Any:
    return OrderLine.quantity * OrderLine.unit_price_cents


def _replaced_value(session: Session) -> CompoundSelect[Any]:
    """Cancelled lines (their refund) and switched ones (their replacement), a minority of the
    lines that waited: each looked up once, in a materialized CTE, then grouped per SKU (rows
    with a product id) and per day (rows with a day) in one statement."""
    line = OrderLine
    replacement = aliased(OrderLine)
    cancelled = line.status == LineStatus.CANCELLED
    currency = case((cancelled, Refund.currency), else_=replacement.currency)
    amount = case(
        (cancelled, Refund.amount_cents),
        else_=replacement.quantity * replacement.unit_price_cents,
    )
    replaced = (
        select(
            line.product_id.label("product_id"),
            day_of(session, line.backordered_at).label("day"),
            _status_text().label("status"),
            currency.label("currency"),
            amount.label("amount"),
        )
        .select_from(line)
        .outerjoin(Refund, and_(Refund.line_id == line.id, cancelled))
        .outerjoin(
            replacement,
            and_(replacement.id == line.replaced_by_line_id, line.status == LineStatus.SWITCHED),
        )
        .where(line.backordered_at.is_not(None), line.status.in_(_REPLACED))
        .cte("replaced")
        .prefix_with("MATERIALIZED")
    )
    sums = (replaced.c.status, replaced.c.currency, func.count(), func.sum(replaced.c.amount))
    per_sku = select(replaced.c.product_id, null(), *sums).group_by(
        replaced.c.product_id, replaced.c.status, replaced.c.currency
    )
    per_day = select(null(), replaced.c.day, *sums).group_by(
        replaced.c.day, replaced.c.status, replaced.c.currency
    )
    return union_all(per_sku, per_day)


@dataclass(frozen=True, slots=True)
class WaitingReport:
    flow: Flow
    choices: list[BandChoices]
    revenue: Revenue


def waiting_report(session: Session) -> WaitingReport:
    return WaitingReport(flow(session), choices_by_wait(session), revenue(session))
