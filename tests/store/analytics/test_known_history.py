"""Every analytics figure on a history whose answers are set by construction (history.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from store.analytics.suppliers import Scorecard, scorecards
from store.analytics.waiting import BandChoices, choices_by_wait, flow, revenue
from store.models import OfferChoice
from tests import factories
from tests.store.analytics import history

DAY = 86_400
HOUR = 3_600


@pytest.fixture
def shop(session: Session) -> Session:
    history.build(session)
    return session


def test_backorder_to_allocation_is_measured_from_the_moment_each_line_began_to_wait(
    shop: Session,
) -> None:
    legs = flow(shop)
    # A2 9d, A1 10d, B2 16d - 1h, A4 18d.
    to_allocation = legs.backorder_to_allocation
    assert to_allocation.count == 4
    assert to_allocation.p50_seconds == 10 * DAY  # nearest rank: the 2nd of 4
    assert to_allocation.p90_seconds == 18 * DAY  # the 4th of 4
    assert to_allocation.max_seconds == 18 * DAY
    assert to_allocation.mean_seconds == (9 * DAY + 10 * DAY + 16 * DAY - HOUR + 18 * DAY) / 4
    assert [(b.label, b.count) for b in to_allocation.histogram] == [
        ("0-1d", 0),
        ("1-3d", 0),
        ("3-7d", 0),
        ("7-14d", 2),
        ("14-30d", 2),
        ("30d+", 0),
    ]


def test_allocation_to_shipment_and_the_whole_way_count_only_shipped_lines(shop: Session) -> None:
    legs = flow(shop)
    assert legs.allocation_to_shipment.count == 2
    assert legs.allocation_to_shipment.p50_seconds == 1 * DAY  # B2
    assert legs.allocation_to_shipment.max_seconds == 2 * DAY  # A1
    assert legs.backorder_to_shipment.count == 2
    assert legs.backorder_to_shipment.p50_seconds == 12 * DAY
    assert legs.backorder_to_shipment.max_seconds == 17 * DAY - HOUR


def test_choices_are_counted_in_the_band_of_how_long_the_line_had_waited(shop: Session) -> None:
    bands = choices_by_wait(shop)
    assert bands == [
        BandChoices("0-7d", wait=1),  # A2 after 2 days
        BandChoices("7-14d", cancel=1),  # A3 after 8 days
        BandChoices("14-30d", switch=1),  # B1 after 15 days
        BandChoices("30d+", wait=1, by_silence=1),  # B3's offer expired after 31d - 2h
    ]
    assert bands[1].cancel_rate == 1.0
    assert bands[0].cancel_rate == 0.0


def test_revenue_kept_and_lost_per_currency_sku_supplier_and_week(shop: Session) -> None:
    money = revenue(shop)
    usd, eur = money.totals["USD"], money.totals["EUR"]
    # A1 2 units + A2 + A4 waited and got their units; A5's 3 units still wait; A3 cancelled.
    assert usd.lines == {"waited": 3, "switched": 0, "cancelled": 1, "waiting": 1}
    assert usd.amount == {"waited": 40_000, "switched": 0, "cancelled": 10_000, "waiting": 30_000}
    assert (usd.kept, usd.lost) == (40_000, 10_000)
    # B1 switched to one B-ALT at 60.00; B2 waited; B3 still waits.
    assert eur.amount == {"waited": 5_000, "switched": 6_000, "cancelled": 0, "waiting": 5_000}
    assert (eur.kept, eur.lost) == (11_000, 0)
    assert set(money.totals) == {"USD", "EUR"}
    assert money.by_sku["A"]["USD"].amount == usd.amount
    assert money.by_sku["B"]["EUR"].amount == eur.amount
    assert "B-ALT" not in money.by_sku  # the replacement never waited
    assert money.by_supplier["Acme"]["USD"].lost == 10_000
    assert money.by_supplier["Birch"]["EUR"].kept == 11_000
    first, second = dt.date(2026, 11, 2), dt.date(2026, 11, 16)
    assert list(money.by_week) == [first, second]
    assert money.by_week[second]["USD"].amount["waiting"] == 30_000  # A5, a Saturday
    assert money.by_week[first]["USD"].kept == 40_000
    assert money.by_week[first]["EUR"].kept == 11_000


def _card(cards: list[Scorecard], name: str) -> Scorecard:
    return next(c for c in cards if c.supplier == name)


def test_scorecard_compares_receipts_with_the_first_date_promised_for_them(shop: Session) -> None:
    acme = _card(scorecards(shop), "Acme")
    promised = [
        (r.reference, r.first_promised, r.last_promised, r.received_on) for r in acme.history
    ]
    assert promised == [
        ("PO-A-1", dt.date(2026, 11, 10), dt.date(2026, 11, 15), dt.date(2026, 11, 12)),
        # Nothing new was promised after the first delivery: 11-15 carried over.
        ("PO-A-2", dt.date(2026, 11, 15), dt.date(2026, 11, 15), dt.date(2026, 11, 22)),
    ]
    assert [r.days_late for r in acme.history] == [2, 7]
    assert (acme.receipts, acme.promised_receipts, acme.on_first_date) == (2, 2, 0)
    assert acme.on_first_date_share == 0.0
    assert acme.average_days_late == 4.5
    assert acme.max_days_late == 7
    assert (acme.date_changes, acme.slips, acme.slip_days, acme.pulled_in) == (2, 1, 5, 0)
    assert (acme.open_backorder_lines, acme.open_backorder_units) == (1, 3)  # A5


def test_scorecard_counts_an_early_delivery_as_on_time_and_a_pulled_in_date(shop: Session) -> None:
    birch = _card(scorecards(shop), "Birch")
    assert birch.products == 2
    assert [(r.received_on, r.first_promised, r.days_late) for r in birch.history] == [
        (dt.date(2026, 11, 18), dt.date(2026, 11, 20), 0)
    ]
    assert birch.on_first_date_share == 1.0
    assert birch.average_days_late == 0.0
    assert (birch.date_changes, birch.slips, birch.pulled_in) == (2, 0, 1)
    assert birch.average_slip_days is None
    assert (birch.open_backorder_lines, birch.open_backorder_units) == (1, 1)  # B3


def test_a_receipts_day_is_the_shops_day(shop: Session) -> None:
    # 12:00 UTC is already the next day in Auckland (UTC+13 in November).
    acme = _card(scorecards(shop, "Pacific/Auckland"), "Acme")
    assert acme.history[0].received_on == dt.date(2026, 11, 13)
    assert acme.history[0].days_late == 3


def test_a_choice_made_exactly_seven_days_in_counts_in_the_7_to_14_band(session: Session) -> None:
    factories.product(session, "X", supplier="Acme")
    history._order(session, "X1", "X", 1, history.at())
    history._order(session, "X2", "X", 1, history.at())
    history._choose(session, "X1", OfferChoice.WAIT, history.at(7))
    history._choose(session, "X2", OfferChoice.CANCEL, history.at(7) - dt.timedelta(seconds=1))
    bands = {b.band: b for b in choices_by_wait(session)}
    assert (bands["7-14d"].wait, bands["0-7d"].cancel) == (1, 1)
