import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.catalog import PurchaseLineData, record_purchase_order
from store.eta import set_eta
from store.models import DomainEvent, EtaChange, EventKind
from store.policy import DEFAULT_POLICY, Policy
from tests import factories as f
from tests.factories import NOW

DEC_1 = dt.date(2026, 12, 1)


def _events(session: Session, kind: EventKind) -> list[DomainEvent]:
    return list(session.scalars(select(DomainEvent).where(DomainEvent.kind == kind)))


def _set(session: Session, eta: dt.date | None, policy: Policy = DEFAULT_POLICY, now=NOW):
    return set_eta(session, "MUG", eta, source="agent", policy=policy, now=now)


def test_moving_date_tells_each_waiting_line_once(session: Session) -> None:
    f.product(session, "MUG", eta=DEC_1)
    a = f.order(session, "A", [("MUG", 1)]).lines[0]
    b = f.order(session, "B", [("MUG", 2)]).lines[0]
    result = _set(session, DEC_1 - dt.timedelta(days=7))  # earlier: news, not a delay
    assert set(result.changed_line_ids) == {a.id, b.id}
    events = _events(session, EventKind.ETA_CHANGED)
    assert sorted(e.line_id for e in events) == sorted([a.id, b.id])
    assert events[0].payload["old_eta"] == "2026-12-01"
    assert a.eta_slips == 0


def test_a_date_past_the_promised_one_is_a_delay_notice_not_a_date_change(
    session: Session,
) -> None:
    """16 CFR 435.2(b): the option notice as soon as the shop knows it cannot ship in time."""
    f.product(session, "MUG", eta=DEC_1)
    line = f.order(session, "A", [("MUG", 1)]).lines[0]
    _set(session, DEC_1 + dt.timedelta(days=7))
    assert _events(session, EventKind.ETA_CHANGED) == []
    [notice] = _events(session, EventKind.DELAY_NOTICE)
    assert (notice.line_id, notice.payload["notice"]) == (line.id, "first")
    assert line.eta_slips == 1


def test_same_date_again_tells_nobody_and_keeps_no_history(session: Session) -> None:
    f.product(session, "MUG", eta=DEC_1)
    f.order(session, "A", [("MUG", 1)])
    result = _set(session, DEC_1)
    assert result.changed_line_ids == []
    assert _events(session, EventKind.ETA_CHANGED) == []
    assert session.scalars(select(EtaChange)).all() == []


def test_move_below_the_threshold_is_recorded_but_not_sent(session: Session) -> None:
    policy = dataclasses.replace(DEFAULT_POLICY, eta_threshold_days=3)
    f.product(session, "MUG", eta=DEC_1)
    line = f.order(session, "A", [("MUG", 1)]).lines[0]
    _set(session, DEC_1 + dt.timedelta(days=2), policy)
    assert _events(session, EventKind.ETA_CHANGED) == []
    assert line.eta == DEC_1  # still what the customer was told
    assert len(session.scalars(select(EtaChange)).all()) == 1


def test_small_moves_add_up_until_they_cross_the_threshold(session: Session) -> None:
    policy = dataclasses.replace(DEFAULT_POLICY, eta_threshold_days=3)
    f.product(session, "MUG", eta=DEC_1)
    line = f.order(session, "A", [("MUG", 1)]).lines[0]
    _set(session, DEC_1 - dt.timedelta(days=2), policy)
    _set(session, DEC_1 - dt.timedelta(days=4), policy)
    [event] = _events(session, EventKind.ETA_CHANGED)
    assert event.payload["old_eta"] == "2026-12-01"
    assert line.eta == DEC_1 - dt.timedelta(days=4)


def test_allocated_lines_are_not_told(session: Session) -> None:
    f.product(session, "MUG", stock=1, eta=DEC_1)
    f.order(session, "A", [("MUG", 1)])
    _set(session, DEC_1 + dt.timedelta(days=7))
    assert _events(session, EventKind.ETA_CHANGED) == []


def test_first_date_for_a_line_without_one_is_news(session: Session) -> None:
    f.product(session, "MUG")
    line = f.order(session, "A", [("MUG", 1)]).lines[0]
    _set(session, DEC_1)
    assert len(_events(session, EventKind.ETA_CHANGED)) == 1
    assert line.first_eta == DEC_1


def test_slip_after_thirty_days_is_a_delay_notice_not_an_eta_change(session: Session) -> None:
    f.product(session, "MUG", eta=DEC_1)
    line = f.order(session, "A", [("MUG", 1)], placed_at=NOW - dt.timedelta(days=31)).lines[0]
    _set(session, DEC_1 + dt.timedelta(days=14))
    assert _events(session, EventKind.ETA_CHANGED) == []
    [notice] = _events(session, EventKind.DELAY_NOTICE)
    assert notice.line_id == line.id
    assert notice.payload["eta"] == "2026-12-15"


def test_purchase_order_sets_the_earliest_open_date(session: Session) -> None:
    f.product(session, "MUG")
    line = f.order(session, "A", [("MUG", 1)]).lines[0]
    for ref, day in (("PO-2", 20), ("PO-1", 10)):
        record_purchase_order(
            session,
            reference=ref,
            supplier="Acme Supply",
            lines=[PurchaseLineData("MUG", 10, dt.date(2026, 12, day))],
            policy=DEFAULT_POLICY,
            now=NOW,
        )
    assert line.product.eta == dt.date(2026, 12, 10)
    assert line.eta == dt.date(2026, 12, 10)
    sources = session.scalars(select(EtaChange.source)).all()
    assert sources == ["purchase_order", "purchase_order"]
