"""``store.order_bulk`` places a batch of orders exactly as ``place_order`` places them one by one.

The same orders go both ways (two sets of identical products, prefixes A and B), competing for
the same short stock, and every row they wrote is compared: orders, lines, offers, events, stock.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.errors import NotFound
from store.models import Customer, Order, OrderLine, Product
from store.order_bulk import BulkOrder, OrderRefused, place_orders
from store.orders import LineRequest, content_digest, place_order
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW
from tests.store.test_order_intake import PLACED, lines_for, written
from tests.store.test_order_intake import catalog as intake_catalog


def catalog(session: Session, prefix: str) -> None:
    """``test_order_intake``'s products, the PEN in a category of its own: an A-PEN short of
    stock must not be offered the B-PEN (or the other way round) in the shared default one."""
    intake_catalog(session, prefix)
    pen = session.scalars(select(Product).where(Product.sku == f"{prefix}-PEN")).one()
    pen.category = f"{prefix}-pens"
    session.flush()


def orders_for(prefix: str) -> list[tuple[str, list[LineRequest], dt.datetime | None]]:
    """Four orders for the catalogue's short stock (MUG 2, PEN 9): the second finds no MUG left,
    the third only part of its PENs; the last has no placed_at."""
    return [
        ("1", lines_for(prefix), PLACED),
        ("2", [LineRequest(f"{prefix}-MUG", 1), LineRequest(f"{prefix}-PEN", 3)], PLACED),
        ("3", [LineRequest(f"{prefix}-PEN", 5)], PLACED),
        ("4", [LineRequest(f"{prefix}-ALT", 2)], None),
    ]


def bulk(prefix: str, who: Customer) -> list[BulkOrder]:
    return [
        BulkOrder(f"{prefix}{n}", who.id, who.phone or "", lines, placed_at)
        for n, lines, placed_at in orders_for(prefix)
    ]


def one_by_one(session: Session, prefix: str, who: Customer) -> list[int]:
    ids = []
    for n, lines, placed_at in orders_for(prefix):
        placed = place_order(
            session,
            number=f"{prefix}{n}",
            customer=who,
            lines=lines,
            placed_at=placed_at,
            policy=DEFAULT_POLICY,
            now=NOW,
        )
        session.flush()
        ids.append(placed.order.id)
    return ids


def order_ids(session: Session, prefix: str) -> list[int]:
    statement = select(Order.id).where(Order.number.startswith(prefix)).order_by(Order.number)
    return list(session.scalars(statement))


def test_a_batch_writes_what_place_order_writes_order_by_order(session: Session) -> None:
    catalog(session, "A")
    catalog(session, "B")
    who = f.customer(session)
    by_orm = one_by_one(session, "A", who)
    assert place_orders(session, bulk("B", who), DEFAULT_POLICY, NOW) == [True] * 4
    by_bulk = order_ids(session, "B")
    for orm_id, bulk_id in zip(by_orm, by_bulk, strict=True):
        assert written(session, bulk_id, "B") == written(session, orm_id, "A")
    # What the comparison covers: a backordered line with its offer, a partial line, stock out.
    last = written(session, by_bulk[2], "B")
    assert last["lines"]["-PEN"]["columns"][:3] == (5, 4, 1)
    assert (last["stock"]["-PEN"], last["stock"]["-MUG"]) == (0, 0)
    assert written(session, by_bulk[1], "B")["lines"]["-MUG"]["offers"]
    digests = [session.get_one(Order, i).content_digest for i in by_bulk]
    assert digests[3] == content_digest(who.phone, {"B-ALT": 2}, None)


def test_a_batch_again_is_recognised_and_other_content_refused_at_its_order(
    session: Session,
) -> None:
    catalog(session, "B")
    who = f.customer(session)
    place_orders(session, bulk("B", who), DEFAULT_POLICY, NOW)
    lines = session.scalar(select(func.count()).select_from(OrderLine))
    assert place_orders(session, bulk("B", who), DEFAULT_POLICY, NOW) == [False] * 4
    changed = bulk("B", who)
    changed[2] = BulkOrder("B3", who.id, who.phone or "", [LineRequest("B-PEN", 6)], PLACED)
    with pytest.raises(OrderRefused) as caught:
        place_orders(session, changed, DEFAULT_POLICY, NOW)
    assert caught.value.position == 2
    assert str(caught.value) == "order B3 already exists with different content"
    assert session.scalar(select(func.count()).select_from(OrderLine)) == lines


def test_an_unknown_sku_is_refused_at_its_order_as_place_order_refuses_it(
    session: Session,
) -> None:
    catalog(session, "B")
    who = f.customer(session)
    orders = [
        *bulk("B", who)[:2],
        BulkOrder("B9", who.id, who.phone or "", [LineRequest("NOPE", 1)], PLACED),
    ]
    with pytest.raises(OrderRefused) as caught:
        place_orders(session, orders, DEFAULT_POLICY, NOW)
    assert caught.value.position == 2
    with pytest.raises(NotFound) as orm:
        place_order(
            session, number="X", customer=who, lines=[LineRequest("NOPE", 1)],
            placed_at=PLACED, policy=DEFAULT_POLICY, now=NOW,
        )  # fmt: skip
    assert str(caught.value) == str(orm.value)
