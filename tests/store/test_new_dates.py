"""Supplier dates in the past (in the shop's time zone) or too far ahead are refused, and a
refusal writes nothing and tells nobody (issue 12, item 7)."""

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.catalog import PurchaseLineData, record_purchase_order
from store.errors import InvalidInput
from store.eta import MAX_DAYS_AHEAD, check_new_date, set_eta, shop_today
from store.models import DomainEvent, EtaChange, PurchaseOrderLine
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW

TODAY = NOW.date()  # 2026-11-02, noon UTC
NEW_YORK = dataclasses.replace(DEFAULT_POLICY, timezone="America/New_York")


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_today_and_later_dates_pass() -> None:
    check_new_date(TODAY, TODAY)
    check_new_date(TODAY + dt.timedelta(days=MAX_DAYS_AHEAD), TODAY)
    check_new_date(None, TODAY)  # "no date any more" is not a date in the past


@pytest.mark.parametrize("date", [dt.date(2020, 1, 1), dt.date(1, 1, 1), TODAY - dt.timedelta(1)])
def test_a_date_in_the_past_is_refused_with_its_field(date: dt.date) -> None:
    with pytest.raises(InvalidInput, match="in the past") as refused:
        check_new_date(date, TODAY, field="expected_date")
    assert refused.value.field == "expected_date"


def test_a_date_beyond_the_bound_is_refused() -> None:
    with pytest.raises(InvalidInput, match="more than 2 years ahead") as refused:
        check_new_date(TODAY + dt.timedelta(days=MAX_DAYS_AHEAD + 1), TODAY)
    assert refused.value.field == "eta"


def test_today_is_the_shops_day_not_utcs() -> None:
    # 02:00 UTC on 3 Nov is still 2 Nov in New York: 2 Nov is today there, not the past.
    early = dt.datetime(2026, 11, 3, 2, 0, tzinfo=dt.UTC)
    assert shop_today(early, NEW_YORK) == dt.date(2026, 11, 2)
    assert shop_today(early, DEFAULT_POLICY) == dt.date(2026, 11, 3)


def test_set_eta_in_the_past_writes_nothing_and_tells_nobody(session: Session) -> None:
    f.product(session, "MUG", eta=dt.date(2026, 12, 1))
    line = f.order(session, "A", [("MUG", 1)]).lines[0]
    events_before = _count(session, DomainEvent)
    with pytest.raises(InvalidInput) as refused:
        set_eta(session, "MUG", dt.date(2020, 1, 1), source="agent", policy=DEFAULT_POLICY, now=NOW)
    assert refused.value.field == "eta"
    assert line.product.eta == dt.date(2026, 12, 1)
    assert line.eta == dt.date(2026, 12, 1)
    assert _count(session, EtaChange) == 0
    assert _count(session, DomainEvent) == events_before


def test_set_eta_accepts_the_shops_today_before_utc_midnight_moves_it(session: Session) -> None:
    f.product(session, "MUG", eta=dt.date(2026, 12, 1))
    early = dt.datetime(2026, 11, 3, 2, 0, tzinfo=dt.UTC)
    set_eta(session, "MUG", dt.date(2026, 11, 2), source="agent", policy=NEW_YORK, now=early)
    with pytest.raises(InvalidInput):
        set_eta(session, "MUG", dt.date(2026, 11, 2), source="x", policy=DEFAULT_POLICY, now=early)


def test_purchase_order_with_a_past_date_is_refused_whole(session: Session) -> None:
    f.product(session, "MUG", eta=dt.date(2026, 12, 1))
    f.product(session, "CUP")
    f.order(session, "A", [("MUG", 1)])
    events_before = _count(session, DomainEvent)
    with pytest.raises(InvalidInput, match="in the past") as refused:
        record_purchase_order(
            session,
            reference="PO-1",
            supplier="Acme Supply",
            lines=[
                PurchaseLineData("MUG", 5, dt.date(2026, 12, 20)),
                PurchaseLineData("CUP", 5, dt.date(1, 1, 1)),
            ],
            policy=DEFAULT_POLICY,
            now=NOW,
        )
    assert refused.value.field == "expected_date"
    assert _count(session, PurchaseOrderLine) == 0
    assert _count(session, EtaChange) == 0
    assert _count(session, DomainEvent) == events_before
