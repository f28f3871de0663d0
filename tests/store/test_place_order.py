import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import Conflict, InvalidInput, NotFound
from store.models import DomainEvent, EventKind, LineStatus, OfferStatus
from store.orders import LineRequest, place_order
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW


def test_in_stock_line_is_allocated_and_stock_drops(session: Session) -> None:
    product = f.product(session, "MUG", stock=5)
    order = f.order(session, "A1", [("MUG", 3)])
    line = order.lines[0]
    assert (line.status, line.allocated_quantity, line.backordered_quantity) == (
        LineStatus.ALLOCATED,
        3,
        0,
    )
    assert product.stock_on_hand == 2
    assert line.offers == []


def test_short_line_is_split_into_allocated_and_backordered(session: Session) -> None:
    f.product(session, "MUG", stock=2, eta=dt.date(2026, 12, 1))
    line = f.order(session, "A1", [("MUG", 5)]).lines[0]
    assert (line.status, line.allocated_quantity, line.backordered_quantity) == (
        LineStatus.BACKORDERED,
        2,
        3,
    )
    assert line.eta == dt.date(2026, 12, 1)


def test_backordered_line_gets_an_open_offer_and_an_event(session: Session) -> None:
    f.product(session, "MUG", stock=0)
    line = f.order(session, "A1", [("MUG", 1)]).lines[0]
    [offer] = line.offers
    assert offer.status == OfferStatus.OPEN
    assert offer.expires_at == NOW + DEFAULT_POLICY.offer_ttl
    event = session.scalars(select(DomainEvent).where(DomainEvent.line_id == line.id)).one()
    assert event.kind == EventKind.BACKORDERED
    assert event.offer_id == offer.id
    assert event.payload["backordered"] == 1


def test_repeating_the_same_order_returns_it_unchanged(session: Session) -> None:
    product = f.product(session, "MUG", stock=5)
    who = f.customer(session)
    first = f.order(session, "A1", [("MUG", 2)], who=who)
    again = place_order(
        session,
        number="A1",
        customer=who,
        lines=[LineRequest("MUG", 2)],
        placed_at=NOW,
        policy=DEFAULT_POLICY,
        now=NOW,
    )
    assert not again.created
    assert again.order.id == first.id
    assert product.stock_on_hand == 3


def test_same_number_with_other_lines_is_a_conflict(session: Session) -> None:
    f.product(session, "MUG", stock=5)
    who = f.customer(session)
    f.order(session, "A1", [("MUG", 2)], who=who)
    with pytest.raises(Conflict, match="A1"):
        f.order(session, "A1", [("MUG", 3)], who=who)


def test_unknown_sku_is_refused_and_nothing_is_reserved(session: Session) -> None:
    product = f.product(session, "MUG", stock=5)
    with pytest.raises(NotFound, match="NOPE"):
        f.order(session, "A1", [("MUG", 1), ("NOPE", 1)])
    assert product.stock_on_hand == 5


def test_zero_quantity_is_refused(session: Session) -> None:
    f.product(session, "MUG", stock=5)
    with pytest.raises(InvalidInput, match="positive"):
        f.order(session, "A1", [("MUG", 0)])


def test_same_sku_twice_is_one_line(session: Session) -> None:
    f.product(session, "MUG", stock=5)
    order = f.order(session, "A1", [("MUG", 1), ("MUG", 2)])
    assert [(line.product.sku, line.quantity) for line in order.lines] == [("MUG", 3)]
