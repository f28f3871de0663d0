import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import Conflict
from store.models import DomainEvent, EventKind, LineStatus, OfferStatus
from store.stock import receive_stock
from tests import factories as f
from tests.factories import NOW


def test_stock_goes_to_the_oldest_orders_first(session: Session) -> None:
    f.product(session, "MUG", stock=0)
    newer = f.order(session, "B", [("MUG", 1)], placed_at=NOW)
    older = f.order(session, "A", [("MUG", 1)], placed_at=NOW - dt.timedelta(days=3))
    receive_stock(session, "MUG", 1, now=NOW)
    assert older.lines[0].status == LineStatus.ALLOCATED
    assert newer.lines[0].status == LineStatus.BACKORDERED


def test_partial_quantities_fill_in_order_and_leave_the_rest_waiting(session: Session) -> None:
    product = f.product(session, "MUG", stock=0)
    first = f.order(session, "A", [("MUG", 3)], placed_at=NOW - dt.timedelta(days=2)).lines[0]
    second = f.order(session, "B", [("MUG", 4)], placed_at=NOW - dt.timedelta(days=1)).lines[0]
    result = receive_stock(session, "MUG", 5, now=NOW)
    assert [(a.line.id, a.quantity) for a in result.allocations] == [(first.id, 3), (second.id, 2)]
    assert (first.status, first.allocated_quantity, first.backordered_quantity) == (
        LineStatus.ALLOCATED,
        3,
        0,
    )
    assert (second.status, second.allocated_quantity, second.backordered_quantity) == (
        LineStatus.BACKORDERED,
        2,
        2,
    )
    assert product.stock_on_hand == 0


def test_surplus_stays_on_hand(session: Session) -> None:
    product = f.product(session, "MUG", stock=0)
    f.order(session, "A", [("MUG", 1)])
    receive_stock(session, "MUG", 10, now=NOW)
    assert product.stock_on_hand == 9


def test_filled_line_records_ready_to_ship_and_closes_its_offer(session: Session) -> None:
    f.product(session, "MUG", stock=0)
    line = f.order(session, "A", [("MUG", 2)]).lines[0]
    receive_stock(session, "MUG", 2, now=NOW)
    kinds = session.scalars(
        select(DomainEvent.kind).where(DomainEvent.line_id == line.id).order_by(DomainEvent.id)
    ).all()
    assert kinds == [EventKind.BACKORDERED, EventKind.READY_TO_SHIP]
    assert line.offers[0].status == OfferStatus.SUPERSEDED


def test_partly_filled_line_records_partially_allocated(session: Session) -> None:
    f.product(session, "MUG", stock=0)
    line = f.order(session, "A", [("MUG", 3)]).lines[0]
    receive_stock(session, "MUG", 1, now=NOW)
    event = session.scalars(
        select(DomainEvent).where(
            DomainEvent.line_id == line.id, DomainEvent.kind == EventKind.PARTIALLY_ALLOCATED
        )
    ).one()
    assert event.payload == {"allocated": 1, "backordered": 2}
    assert line.offers[0].status == OfferStatus.OPEN


def test_same_receipt_reference_counts_once(session: Session) -> None:
    product = f.product(session, "MUG", stock=0)
    receive_stock(session, "MUG", 4, now=NOW, reference="DEL-1")
    again = receive_stock(session, "MUG", 4, now=NOW, reference="DEL-1")
    assert again.duplicate
    assert product.stock_on_hand == 4


def test_same_reference_with_other_quantity_is_a_conflict(session: Session) -> None:
    f.product(session, "MUG", stock=0)
    receive_stock(session, "MUG", 4, now=NOW, reference="DEL-1")
    with pytest.raises(Conflict):
        receive_stock(session, "MUG", 5, now=NOW, reference="DEL-1")
