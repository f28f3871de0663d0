import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.errors import NotFound
from store.models import (
    CategoryDiscount,
    DomainEvent,
    EventKind,
    LineStatus,
    OfferChoice,
    OfferStatus,
    OrderLine,
    OrderStatus,
)
from store.offers import Refusal, accept_offer, expire_offers, make_offer
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW

LATER = NOW + dt.timedelta(hours=1)


def _waiting_line(session: Session, qty: int = 1, **product_kwargs: object) -> OrderLine:
    f.product(session, "MUG", **product_kwargs)  # type: ignore[arg-type]
    return f.order(session, "A1", [("MUG", qty)]).lines[0]


def _accept(session: Session, line: OrderLine, choice: OfferChoice, now: dt.datetime = LATER):
    return accept_offer(
        session, line.offers[-1].id, choice, via="sms", now=now, policy=DEFAULT_POLICY
    )


def test_discount_comes_from_product_then_category_then_default(session: Session) -> None:
    session.add(CategoryDiscount(category="garden", discount_percent=15))
    f.product(session, "OWN", discount_percent=25)
    f.product(session, "CAT", category="garden")
    f.product(session, "DEF", category="toys")
    order = f.order(session, "A1", [("OWN", 1), ("CAT", 1), ("DEF", 1)])
    discounts = {line.product.sku: line.offers[0].discount_percent for line in order.lines}
    assert discounts == {"OWN": 25, "CAT": 15, "DEF": DEFAULT_POLICY.default_discount_percent}


def test_explicit_alternative_in_stock_is_offered_first(session: Session) -> None:
    f.product(session, "NEAR", stock=5, price_cents=10_000)
    f.product(session, "FAR", stock=5, price_cents=50_000, category="other")
    line = _waiting_line(session, alternatives=("FAR",))
    assert line.offers[0].alternative is not None
    assert line.offers[0].alternative.sku == "FAR"


def test_same_category_alternative_must_be_in_stock_and_in_price_band(session: Session) -> None:
    f.product(session, "CHEAP", stock=5, price_cents=5_000)  # outside the 20% band
    f.product(session, "EMPTY", stock=0, price_cents=10_000)
    f.product(session, "CLOSE", stock=5, price_cents=11_000)
    f.product(session, "OTHERCAT", stock=5, price_cents=10_000, category="garden")
    line = _waiting_line(session)
    assert line.offers[0].alternative is not None
    assert line.offers[0].alternative.sku == "CLOSE"


def test_no_alternative_means_switch_is_refused(session: Session) -> None:
    line = _waiting_line(session)
    outcome = _accept(session, line, OfferChoice.SWITCH)
    assert not outcome.accepted
    assert outcome.refusal == Refusal.NO_ALTERNATIVE
    assert line.offers[0].status == OfferStatus.OPEN


def test_wait_issues_a_unique_coupon_code(session: Session) -> None:
    line = _waiting_line(session)
    outcome = _accept(session, line, OfferChoice.WAIT)
    assert outcome.accepted
    assert outcome.coupon_code is not None
    assert outcome.coupon_code.startswith("WAIT-")
    assert line.status == LineStatus.BACKORDERED
    assert line.offers[0].status == OfferStatus.ACCEPTED


def test_accepting_wait_twice_returns_the_same_coupon(session: Session) -> None:
    line = _waiting_line(session)
    first = _accept(session, line, OfferChoice.WAIT)
    second = _accept(session, line, OfferChoice.WAIT)
    assert second.accepted
    assert second.repeated
    assert second.coupon_code == first.coupon_code
    accepted_events = session.scalars(
        select(DomainEvent).where(DomainEvent.kind == EventKind.OFFER_ACCEPTED)
    ).all()
    assert len(accepted_events) == 1


def test_another_choice_after_deciding_is_refused(session: Session) -> None:
    line = _waiting_line(session)
    _accept(session, line, OfferChoice.WAIT)
    outcome = _accept(session, line, OfferChoice.CANCEL)
    assert outcome.refusal == Refusal.ALREADY_DECIDED
    assert line.status == LineStatus.BACKORDERED


def test_switch_replaces_the_line_and_allocates_the_alternative(session: Session) -> None:
    alt = f.product(session, "ALT", stock=3, price_cents=10_500)
    line = _waiting_line(session, qty=2)
    outcome = _accept(session, line, OfferChoice.SWITCH)
    assert outcome.accepted
    assert outcome.new_line is not None
    assert (outcome.new_line.product.sku, outcome.new_line.allocated_quantity) == ("ALT", 2)
    assert outcome.new_line.status == LineStatus.ALLOCATED
    assert line.status == LineStatus.SWITCHED
    assert line.replaced_by_line_id == outcome.new_line.id
    assert alt.stock_on_hand == 1


def test_switching_twice_does_not_take_stock_twice(session: Session) -> None:
    alt = f.product(session, "ALT", stock=3, price_cents=10_500)
    line = _waiting_line(session, qty=2)
    first = _accept(session, line, OfferChoice.SWITCH)
    second = _accept(session, line, OfferChoice.SWITCH)
    assert second.repeated
    assert second.new_line is not None
    assert first.new_line is not None
    assert second.new_line.id == first.new_line.id
    assert alt.stock_on_hand == 1


def test_switch_is_refused_when_the_alternative_sold_out_meanwhile(session: Session) -> None:
    alt = f.product(session, "ALT", stock=1, price_cents=10_500)
    line = _waiting_line(session)
    alt.stock_on_hand = 0
    session.flush()
    outcome = _accept(session, line, OfferChoice.SWITCH)
    assert outcome.refusal == Refusal.ALTERNATIVE_UNAVAILABLE
    assert line.status == LineStatus.BACKORDERED


def test_cancel_releases_held_units_to_the_next_waiting_order(session: Session) -> None:
    f.product(session, "MUG", stock=1)
    first = f.order(session, "A1", [("MUG", 2)], placed_at=NOW - dt.timedelta(days=1)).lines[0]
    second = f.order(session, "A2", [("MUG", 1)]).lines[0]
    assert first.allocated_quantity == 1
    outcome = _accept(session, first, OfferChoice.CANCEL)
    assert outcome.accepted
    assert (first.status, first.allocated_quantity) == (LineStatus.CANCELLED, 0)
    assert first.order.status == OrderStatus.CANCELLED
    assert second.status == LineStatus.ALLOCATED


def test_expired_offer_is_refused_and_its_default_applied(session: Session) -> None:
    line = _waiting_line(session)
    too_late = NOW + DEFAULT_POLICY.offer_ttl + dt.timedelta(minutes=1)
    outcome = _accept(session, line, OfferChoice.CANCEL, now=too_late)
    assert outcome.refusal == Refusal.EXPIRED
    offer = line.offers[0]
    assert offer.status == OfferStatus.EXPIRED
    assert offer.choice == OfferChoice.WAIT
    assert line.status == LineStatus.BACKORDERED


def test_expiry_sweep_applies_the_configured_default(session: Session) -> None:
    line = _waiting_line(session)
    policy = dataclasses.replace(DEFAULT_POLICY, offer_default_choice=OfferChoice.CANCEL)
    line.offers[0].default_choice = policy.offer_default_choice
    expired = expire_offers(session, NOW + policy.offer_ttl, policy)
    assert [o.id for o in expired] == [line.offers[0].id]
    assert line.status == LineStatus.CANCELLED
    event = session.scalars(
        select(DomainEvent).where(DomainEvent.kind == EventKind.OFFER_EXPIRED)
    ).one()
    assert event.payload["choice"] == "cancel"


def test_expiry_sweep_leaves_offers_that_are_not_due(session: Session) -> None:
    line = _waiting_line(session)
    assert expire_offers(session, LATER, DEFAULT_POLICY) == []
    assert line.offers[0].status == OfferStatus.OPEN


def test_superseded_offer_is_refused(session: Session) -> None:
    line = _waiting_line(session)
    old = line.offers[0]
    make_offer(session, line, DEFAULT_POLICY, LATER)
    outcome = accept_offer(
        session, old.id, OfferChoice.WAIT, via="sms", now=LATER, policy=DEFAULT_POLICY
    )
    assert outcome.refusal == Refusal.SUPERSEDED
    assert old.coupon_code is None


def test_unknown_offer_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        accept_offer(
            session, 999_999, OfferChoice.WAIT, via="sms", now=LATER, policy=DEFAULT_POLICY
        )


def test_a_line_that_waits_again_keeps_its_one_coupon(session: Session) -> None:
    line = _waiting_line(session)
    first = _accept(session, line, OfferChoice.WAIT)
    codes = [first.coupon_code]
    for round_ in range(5):  # slips and delay notices open new rounds; expiry applies "wait"
        make_offer(session, line, DEFAULT_POLICY, LATER)
        later = LATER + dt.timedelta(days=10 * (round_ + 1))
        expire_offers(session, later + DEFAULT_POLICY.offer_ttl, DEFAULT_POLICY)
        codes.append(line.offers[-1].coupon_code)
    assert len(set(codes)) == 1
    assert codes[0] is not None
    assert line.coupon_code == codes[0]


def test_the_schema_refuses_a_second_line_with_the_same_coupon(session: Session) -> None:
    line = _waiting_line(session)
    code = _accept(session, line, OfferChoice.WAIT).coupon_code
    other = f.order(session, "A2", [("MUG", 1)]).lines[0]
    other.coupon_code = code
    with pytest.raises(IntegrityError):
        session.flush()
