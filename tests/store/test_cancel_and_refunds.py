"""Issue 12 item 2: "cancel" cancels what the customer is told, and the refund they are promised
is written down, in money, until the shop settles it."""

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import Conflict, NotFound
from store.models import (
    DomainEvent,
    EventKind,
    LineStatus,
    OfferChoice,
    OrderLine,
    OrderStatus,
    Refund,
)
from store.offers import accept_offer, expire_offers
from store.policy import DEFAULT_POLICY
from store.refunds import refunds, settle_refund
from tests import factories as f
from tests.factories import NOW

LATER = NOW + dt.timedelta(hours=1)


def _choose(session: Session, line_id: int, choice: OfferChoice) -> None:
    line = session.get_one(OrderLine, line_id)
    outcome = accept_offer(
        session, line.offers[-1].id, choice, via="sms", now=LATER, policy=DEFAULT_POLICY
    )
    assert outcome.accepted


def _cancel_event(session: Session) -> DomainEvent:
    return session.scalars(
        select(DomainEvent).where(DomainEvent.kind == EventKind.OFFER_ACCEPTED)
    ).one()


def test_cancelling_the_late_item_keeps_the_rest_of_the_order(session: Session) -> None:
    f.product(session, "MUG", stock=0, price_cents=1_250)
    f.product(session, "TEA", stock=5, price_cents=800)
    order = f.order(session, "A1", [("MUG", 2), ("TEA", 1)])
    mug, tea = order.lines
    _choose(session, mug.id, OfferChoice.CANCEL)
    assert mug.status == LineStatus.CANCELLED
    assert tea.status == LineStatus.ALLOCATED
    assert tea.allocated_quantity == 1
    assert order.status == OrderStatus.OPEN
    refund = session.scalars(select(Refund)).one()
    assert (refund.line_id, refund.quantity, refund.amount_cents) == (mug.id, 2, 2_500)
    payload = _cancel_event(session).payload
    assert payload["order_cancelled"] is False
    assert payload["refund_cents"] == 2_500


def test_cancelling_the_only_item_cancels_the_order(session: Session) -> None:
    f.product(session, "MUG", stock=0, price_cents=1_250)
    order = f.order(session, "A1", [("MUG", 1)])
    _choose(session, order.lines[0].id, OfferChoice.CANCEL)
    assert order.status == OrderStatus.CANCELLED
    assert _cancel_event(session).payload["order_cancelled"] is True


def test_the_refund_is_the_price_paid_not_todays_price(session: Session) -> None:
    mug = f.product(session, "MUG", stock=0, price_cents=1_000)
    order = f.order(session, "A1", [("MUG", 1)])
    mug.price_cents = 5_000  # the catalog changes after the sale
    _choose(session, order.lines[0].id, OfferChoice.CANCEL)
    assert session.scalars(select(Refund.amount_cents)).one() == 1_000


def test_silence_that_cancels_writes_the_refund_too(session: Session) -> None:
    policy = dataclasses.replace(DEFAULT_POLICY, offer_default_choice=OfferChoice.CANCEL)
    f.product(session, "MUG", stock=0, price_cents=1_000)
    order = f.order(session, "A1", [("MUG", 3)], policy=policy)
    expire_offers(session, NOW + dt.timedelta(days=30), policy)
    refund = session.scalars(select(Refund)).one()
    assert (refund.reason, refund.amount_cents) == ("no_answer", 3_000)
    assert order.status == OrderStatus.CANCELLED


def test_a_refund_stays_due_until_settled_and_settling_twice_is_harmless(
    session: Session,
) -> None:
    f.product(session, "MUG", stock=0, price_cents=1_000)
    order = f.order(session, "A1", [("MUG", 1)])
    _choose(session, order.lines[0].id, OfferChoice.CANCEL)
    (due,) = refunds(session)
    settle_refund(session, due.id, by="agent:ann", reference="re_123", now=LATER)
    settle_refund(session, due.id, by="agent:ann", reference="re_123", now=LATER)
    assert refunds(session) == []
    assert [r.id for r in refunds(session, due_only=False)] == [due.id]
    with pytest.raises(Conflict):
        settle_refund(session, due.id, by="agent:bob", reference="re_999", now=LATER)
    with pytest.raises(NotFound):
        settle_refund(session, 999, by="agent:ann", reference=None, now=LATER)
