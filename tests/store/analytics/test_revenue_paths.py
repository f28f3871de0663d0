"""Revenue's separate paths, each to the unit: switched lines valued at their replacement (not
at their own price), cancelled lines at their refund (or at nothing, for a cancel from before
refunds were kept), each in the week its line began to wait.

    T0 (Mon 2026-11-02)  X1 orders 2 C (USD 100.00; waits), X3 orders 1 C (waits)
    T0+8d (Tue, the next week)  X2 orders 1 C (waits)
    T0+9d   X1 switches to C-ALT (USD 70.00): kept USD 140.00, in the week of T0
    T0+10d  X2 cancels: its refund, USD 100.00, lost in the week of T0+8d
    T0+11d  X3 cancels; its refund row is then removed, as for a cancel older than refunds:
            a lost line of unknown currency ("?") worth 0
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.analytics.waiting import revenue
from store.models import OfferChoice, Order, OrderLine, Refund
from tests import factories
from tests.store.analytics.history import _choose, _order, at


def _build(session: Session) -> None:
    factories.product(session, "C-ALT", supplier="Cobalt", price_cents=7_000, stock=10)
    factories.product(session, "C", supplier="Cobalt", price_cents=10_000, alternatives=("C-ALT",))
    _order(session, "X1", "C", 2, at())
    _order(session, "X3", "C", 1, at())
    _order(session, "X2", "C", 1, at(8))
    _choose(session, "X1", OfferChoice.SWITCH, at(9))
    _choose(session, "X2", OfferChoice.CANCEL, at(10))
    _choose(session, "X3", OfferChoice.CANCEL, at(11))
    x3_line = (
        select(OrderLine.id).join(Order, Order.id == OrderLine.order_id).where(Order.number == "X3")
    ).scalar_subquery()
    session.execute(delete(Refund).where(Refund.line_id == x3_line))
    session.flush()


def test_switches_and_cancels_are_valued_at_what_was_kept_and_refunded(session: Session) -> None:
    _build(session)
    money = revenue(session)
    assert set(money.totals) == {"?", "USD"}
    usd = money.totals["USD"]
    assert usd.lines == {"waited": 0, "switched": 1, "cancelled": 1, "waiting": 0}
    assert usd.amount == {"waited": 0, "switched": 14_000, "cancelled": 10_000, "waiting": 0}
    assert money.totals["?"].lines["cancelled"] == 1
    assert money.totals["?"].lost == 0
    assert "C-ALT" not in money.by_sku  # the replacement never waited
    assert {c: (m.kept, m.lost) for c, m in money.by_sku["C"].items()} == {
        "?": (0, 0),
        "USD": (14_000, 10_000),
    }
    assert money.by_supplier["Cobalt"]["USD"].kept == 14_000


def test_each_outcome_counts_in_the_week_its_line_began_to_wait(session: Session) -> None:
    _build(session)
    weeks = revenue(session).by_week
    first, second = dt.date(2026, 11, 2), dt.date(2026, 11, 9)
    assert list(weeks) == [first, second]
    assert weeks[first]["USD"].amount["switched"] == 14_000
    assert weeks[first]["?"].lines["cancelled"] == 1
    assert weeks[second]["USD"].lost == 10_000
    assert set(weeks[second]) == {"USD"}
