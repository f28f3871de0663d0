"""A small shop history played through the store's own operations on a fake clock, whose
every analytics figure is known by construction (the numbers are worked out in the comments).

Two suppliers. Acme makes A (USD 100.00); Birch makes B (EUR 50.00) and B-ALT (EUR 60.00, in
stock, B's explicit alternative). Offers live 30 days, so choices can come late.

    T0 (Mon 2026-11-02 12:00 UTC)  A promised for 11-10, B for 11-20
    T0        A1 orders 2 A, B1 orders 1 B        (both wait: no stock)
    T0+1h     B2 orders 1 B;  T0+2h B3 orders 1 B
    T0+1d     A2 and A3 order 1 A each;  T0+2d A4 orders 1 A
    T0+3d     A2 chooses wait                      (had waited 2d: band 0-7d)
    T0+4d     A slips to 11-15                     (a slip of 5 days)
    T0+8d     B pulled in to 11-18
    T0+9d     A3 cancels                           (8d: band 7-14d; refund USD 100.00)
    T0+10d    3 A arrive (11-12, 2 days after 11-10): A1 gets 2 (waited 10d), A2 1 (9d)
    T0+12d    A1 ships                             (2d after allocation, 12d after backorder)
    T0+15d    B1 switches to B-ALT                 (15d: band 14-30d; kept EUR 60.00)
    T0+16d    1 B arrives (11-18, before 11-20): B2 gets it (waited 16d - 1h)
    T0+17d    B2 ships                             (1d after allocation)
    T0+19d    A5 orders 3 A                        (still waiting at the end)
    T0+20d    1 A arrives (11-22; the round's first date is 11-15, carried over: 7 days late):
              A4 gets it (waited 18d)
    T0+31d    the expiry sweep: B3's offer (made at T0+2h) ends in "wait" by silence
              (31d - 2h: band 30d+)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.eta import set_eta
from store.models import Offer, OfferChoice, OfferStatus, Order, OrderLine
from store.offers import accept_offer, expire_offers
from store.policy import Policy
from store.shipments import ship
from store.stock import receive_stock
from tests import factories

T0 = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
POLICY = Policy(offer_ttl=dt.timedelta(days=30))
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def at(days: float = 0, hours: float = 0) -> dt.datetime:
    return T0 + days * DAY + hours * HOUR


def build(session: Session) -> None:
    factories.product(session, "A", supplier="Acme", price_cents=10_000)
    factories.product(
        session, "B-ALT", supplier="Birch", price_cents=6_000, currency="EUR", stock=10
    )
    factories.product(
        session, "B", supplier="Birch", price_cents=5_000, currency="EUR", alternatives=("B-ALT",)
    )
    _eta(session, "A", dt.date(2026, 11, 10), at())
    _eta(session, "B", dt.date(2026, 11, 20), at())
    _order(session, "A1", "A", 2, at())
    _order(session, "B1", "B", 1, at())
    _order(session, "B2", "B", 1, at(hours=1))
    _order(session, "B3", "B", 1, at(hours=2))
    _order(session, "A2", "A", 1, at(1))
    _order(session, "A3", "A", 1, at(1))
    _order(session, "A4", "A", 1, at(2))
    _choose(session, "A2", OfferChoice.WAIT, at(3))
    _eta(session, "A", dt.date(2026, 11, 15), at(4))
    _eta(session, "B", dt.date(2026, 11, 18), at(8))
    _choose(session, "A3", OfferChoice.CANCEL, at(9))
    receive_stock(session, "A", 3, now=at(10), reference="PO-A-1")
    ship(session, "A1", now=at(12))
    _choose(session, "B1", OfferChoice.SWITCH, at(15))
    receive_stock(session, "B", 1, now=at(16), reference="PO-B-1")
    ship(session, "B2", now=at(17))
    _order(session, "A5", "A", 3, at(19))
    receive_stock(session, "A", 1, now=at(20), reference="PO-A-2")
    expire_offers(session, at(31), POLICY)
    session.flush()


def _eta(session: Session, sku: str, eta: dt.date, now: dt.datetime) -> None:
    set_eta(session, sku, eta, source="supplier", policy=POLICY, now=now)


def _order(session: Session, number: str, sku: str, quantity: int, when: dt.datetime) -> None:
    factories.order(session, number, [(sku, quantity)], placed_at=when, policy=POLICY)


def _choose(session: Session, number: str, choice: OfferChoice, now: dt.datetime) -> None:
    offer_id = session.scalars(
        select(Offer.id)
        .join(OrderLine, OrderLine.id == Offer.line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.number == number, Offer.status == OfferStatus.OPEN)
    ).one()
    outcome = accept_offer(session, offer_id, choice, via="sms", now=now, policy=POLICY)
    assert outcome.accepted, outcome.refusal
