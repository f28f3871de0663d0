"""``orders show`` reads through the driver (``store.order_sheet``) what the API builds from ORM
objects: the two records must be the same, field for field, for every kind of order."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.order_views import order_record
from store import queries, sample
from store.driver_read import DriverReader
from store.models import Offer, OfferChoice, OfferStatus, Order, OrderLine
from store.offers import accept_offer
from store.order_sheet import order_sheet
from store.policy import DEFAULT_POLICY
from store.shipments import ship
from tests.factories import NOW


def _shop(session: Session) -> None:
    """The sample shop, then history: a shipment, a decided offer, a switched line."""
    data = sample.generate(customers=15, orders=40, seed=11, now=NOW)
    sample.load(session, data, policy=DEFAULT_POLICY, now=NOW)
    session.flush()
    # Microseconds too: SQLite hands times back as text, which must be read back whole.
    later = NOW + dt.timedelta(hours=2, microseconds=123456)
    shippable = session.scalars(
        # Distinct: an order with two allocated lines would otherwise come back twice, and
        # the second ship() finds nothing left (PostgreSQL returns rows in no fixed order).
        select(Order.number)
        .join(OrderLine)
        .where(OrderLine.allocated_quantity > 0)
        .distinct()
        .order_by(Order.number)
        .limit(2)
    ).all()
    for number in shippable:
        ship(session, number, carrier="UPS", tracking="1Z9", now=later)
    offers = session.scalars(
        select(Offer)
        .where(Offer.status == OfferStatus.OPEN, Offer.expires_at > later)
        .order_by(Offer.id.desc())
        .limit(3)
    ).all()
    choices = (OfferChoice.CANCEL, OfferChoice.WAIT, OfferChoice.CANCEL)
    for offer, choice in zip(offers, choices, strict=True):
        outcome = accept_offer(
            session, offer.id, choice, via="sms", now=later, policy=DEFAULT_POLICY
        )
        assert outcome.accepted, outcome.refusal
    session.flush()
    session.expire_all()


def _reader(session: Session) -> DriverReader:
    """The driver's own connection under the session: it sees the test's uncommitted rows."""
    session.flush()
    return DriverReader(session.connection().connection.dbapi_connection)


def test_the_drivers_record_is_the_orm_record_for_every_order(session: Session) -> None:
    _shop(session)
    numbers = session.scalars(select(Order.number).order_by(Order.id)).all()
    kinds = set()
    for number in numbers:
        order = queries.order_with_lines(session, number)
        assert order is not None
        expected = order_record(order, with_phone=True)
        assert order_sheet(_reader(session), number) == expected, number
        kinds |= {line["status"] for line in expected["lines"]}
        kinds |= {"offer" for line in expected["lines"] if line["open_offer"]}
        kinds |= {"shipment" for _ in expected["shipments"]}
    # The sample covers what the record can say, or this test proves less than it seems.
    assert {"allocated", "backordered", "offer", "shipment", "shipped", "cancelled"} <= kinds


def test_an_unknown_number_is_none(session: Session) -> None:
    assert order_sheet(_reader(session), "NO-SUCH-ORDER") is None
