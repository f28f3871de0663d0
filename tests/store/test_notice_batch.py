"""set_eta's set-wise delay notices record exactly what one ``record_delay_notice`` per line did."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import store.eta
from store.delays import check_delays
from store.eta import record_delay_notice, set_eta
from store.models import CategoryDiscount, DomainEvent, Offer, OfferStatus, OrderLine, Product
from store.notice_batch import NoticedLine, WaitingLine
from store.policy import DEFAULT_POLICY, Policy
from tests import factories as f
from tests.factories import NOW

LATER = NOW + dt.timedelta(days=40)


def _one_by_one(
    session: Session,
    product: Product,
    lines: Sequence[WaitingLine],
    now: dt.datetime,
    policy: Policy,
    today: dt.date,
) -> list[NoticedLine]:
    """The path set_eta took before: ORM lines, one make_offer and one event per line."""
    noticed = []
    for line in session.scalars(
        select(OrderLine).where(OrderLine.id.in_([ln.id for ln in lines])).order_by(OrderLine.id)
    ):
        record_delay_notice(session, line, now, policy)
        session.flush()
        offer_id = line.offers[-1].id
        noticed.append(NoticedLine(line.id, line.order_id, line.order.customer_id, offer_id))
    return noticed


def _shop(session: Session) -> None:
    """Lines of every kind of notice, open offers to supersede, two quantities, a discount."""
    session.add(CategoryDiscount(category="kitchen", discount_percent=15))
    f.product(session, "ALT", stock=1, category="kitchen", price_cents=10_500)
    f.product(session, "BIG", stock=5, category="kitchen", price_cents=9_000)
    f.product(session, "MUG", eta=dt.date(2026, 11, 20), alternatives=("ALT",))
    f.order(session, "OLD", [("MUG", 1)], placed_at=NOW - dt.timedelta(days=35))  # past 30 days
    f.order(session, "TWO", [("MUG", 2)])  # the explicit alternative lacks 2 units
    f.order(session, "ONE", [("MUG", 1)])
    f.order(session, "AGAIN", [("MUG", 1)], placed_at=NOW - dt.timedelta(days=31))
    check_delays(session, NOW, DEFAULT_POLICY)  # noticed once already: renewed next time
    session.flush()


def _snapshot(session: Session) -> dict[str, Any]:
    session.flush()
    offers = session.execute(
        select(
            Offer.id,
            Offer.line_id,
            Offer.customer_id,
            Offer.status,
            Offer.discount_percent,
            Offer.alternative_product_id,
            Offer.expires_at,
            Offer.default_choice,
            Offer.choice,
            Offer.decided_at,
            Offer.coupon_code,
        ).order_by(Offer.id)
    ).all()
    # Offer ids differ between the two runs (a rolled-back sequence on PostgreSQL moves on).
    rank = {row[0]: i for i, row in enumerate(offers)}
    events = session.execute(
        select(
            DomainEvent.kind,
            DomainEvent.customer_id,
            DomainEvent.order_id,
            DomainEvent.line_id,
            DomainEvent.product_id,
            DomainEvent.offer_id,
            DomainEvent.payload,
            DomainEvent.handled_at,
        ).order_by(DomainEvent.id)
    ).all()
    lines = session.execute(
        select(
            OrderLine.id,
            OrderLine.eta,
            OrderLine.first_eta,
            OrderLine.eta_slips,
            OrderLine.delay_notice_at,
            OrderLine.delay_notice_eta,
            OrderLine.delay_notices,
            OrderLine.status,
        ).order_by(OrderLine.id)
    ).all()
    return {
        "offers": [tuple(row[1:]) for row in offers],
        "events": [(*row[:5], rank.get(row[5]), *row[6:]) for row in events],
        "lines": [tuple(row) for row in lines],
    }


@pytest.mark.parametrize("eta", [dt.date(2026, 12, 31), dt.date(2027, 3, 1), None])
def test_set_etas_notices_are_the_rows_one_notice_per_line_made(
    session: Session, monkeypatch: pytest.MonkeyPatch, eta: dt.date | None
) -> None:
    _shop(session)
    savepoint = session.begin_nested()
    fast = set_eta(session, "MUG", eta, source="test", policy=DEFAULT_POLICY, now=LATER)
    batch = _snapshot(session)
    savepoint.rollback()
    session.expire_all()
    monkeypatch.setattr(store.eta, "record_delay_notices", _one_by_one)
    slow = set_eta(session, "MUG", eta, source="test", policy=DEFAULT_POLICY, now=LATER)
    reference = _snapshot(session)
    assert len(fast.delay_lines) == 4
    assert [n[:3] for n in fast.delay_lines] == [n[:3] for n in slow.delay_lines]
    assert batch == reference
    notices = {row[6]["notice"] for row in reference["events"] if row[0] == "delay_notice"}
    assert "renewed" in notices  # the scenario covers the kinds it means to


def test_objects_the_session_holds_show_what_set_eta_wrote(session: Session) -> None:
    f.product(session, "MUG", eta=dt.date(2026, 11, 20))
    line = f.order(session, "OLD", [("MUG", 1)], placed_at=NOW - dt.timedelta(days=35)).lines[0]
    first_offer = line.offers[0]
    new = dt.date(2026, 12, 31)
    set_eta(session, "MUG", new, source="test", policy=DEFAULT_POLICY, now=LATER)
    assert (line.eta, line.first_eta, line.delay_notices) == (new, dt.date(2026, 11, 20), 1)
    assert line.delay_notice_at == LATER
    assert first_offer.status == OfferStatus.SUPERSEDED
    assert [o.status for o in session.scalars(select(Offer).where(Offer.line_id == line.id))] == [
        OfferStatus.SUPERSEDED,
        OfferStatus.OPEN,
    ]
