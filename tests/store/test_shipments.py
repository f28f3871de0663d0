"""Shipping: only reserved units ship, lines and orders end, and shipped units stop reserving."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.allocation import reserved_units
from store.catalog import ProductData, upsert_product
from store.db import Database
from store.errors import Conflict, InvalidInput, NotFound
from store.models import (
    DomainEvent,
    EventKind,
    LineStatus,
    OfferChoice,
    Order,
    OrderStatus,
    Product,
    Shipment,
    ShipmentLine,
)
from store.offers import accept_offer
from store.policy import DEFAULT_POLICY
from store.shipments import ship
from tests import factories as f
from tests.factories import NOW


def _shipments(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Shipment)) or 0


def _events(session: Session, kind: EventKind) -> list[DomainEvent]:
    return list(session.scalars(select(DomainEvent).where(DomainEvent.kind == kind.value)))


def _choose(session: Session, order: Order, choice: OfferChoice) -> None:
    line = next(line for line in order.lines if line.status == LineStatus.BACKORDERED)
    accept_offer(session, line.offers[-1].id, choice, via="sms", now=NOW, policy=DEFAULT_POLICY)


def test_shipping_a_whole_order_ships_every_line_and_completes_it(session: Session) -> None:
    f.product(session, "MUG", stock=5)
    f.product(session, "PLATE", stock=5)
    order = f.order(session, "A1", [("MUG", 2), ("PLATE", 1)])
    result = ship(session, "A1", carrier="UPS", tracking="1Z999", now=NOW)
    assert result.created
    assert [line.status for line in order.lines] == [LineStatus.SHIPPED, LineStatus.SHIPPED]
    assert [line.shipped_quantity for line in order.lines] == [2, 1]
    assert order.status == OrderStatus.COMPLETED
    assert sorted((s.line_id, s.quantity) for s in result.shipment.lines) == sorted(
        (line.id, line.quantity) for line in order.lines
    )
    (event,) = _events(session, EventKind.SHIPPED)
    assert event.payload["carrier"] == "UPS"
    assert event.payload["order_completed"] is True
    assert [i["quantity"] for i in event.payload["items"]] == [2, 1]


def test_part_of_a_line_ships_and_the_rest_later(session: Session) -> None:
    f.product(session, "MUG", stock=5)
    order = f.order(session, "A1", [("MUG", 3)])
    ship(session, "A1", sku="MUG", quantity=1, now=NOW)
    (line,) = order.lines
    assert (line.status, line.shipped_quantity, order.status) == (
        LineStatus.ALLOCATED,
        1,
        OrderStatus.OPEN,
    )
    ship(session, "A1", sku="MUG", now=NOW)  # no quantity: the rest of what is reserved
    assert (line.status, line.shipped_quantity, order.status) == (
        LineStatus.SHIPPED,
        3,
        OrderStatus.COMPLETED,
    )
    assert _shipments(session) == 2


def test_shipping_more_than_is_reserved_is_refused_and_writes_nothing(session: Session) -> None:
    f.product(session, "MUG", stock=3)
    order = f.order(session, "A1", [("MUG", 3)])
    with pytest.raises(InvalidInput, match="only 3 units of MUG") as refused:
        ship(session, "A1", sku="MUG", quantity=4, now=NOW)
    assert refused.value.field == "quantity"
    assert order.lines[0].shipped_quantity == 0
    assert _shipments(session) == 0
    assert _events(session, EventKind.SHIPPED) == []


def test_units_on_backorder_cannot_ship_but_the_reserved_ones_can(session: Session) -> None:
    f.product(session, "MUG", stock=2)
    order = f.order(session, "A1", [("MUG", 5)])
    with pytest.raises(InvalidInput, match="only 2 units"):
        ship(session, "A1", sku="MUG", quantity=3, now=NOW)
    ship(session, "A1", now=NOW)
    (line,) = order.lines
    assert (line.status, line.shipped_quantity, line.backordered_quantity) == (
        LineStatus.BACKORDERED,
        2,
        3,
    )
    assert order.status == OrderStatus.OPEN
    with pytest.raises(InvalidInput, match="no reserved units to ship") as refused:
        ship(session, "A1", now=NOW)
    assert refused.value.field == "number"


def test_a_cancelled_line_cannot_ship(session: Session) -> None:
    f.product(session, "MUG", stock=0)
    order = f.order(session, "A1", [("MUG", 1)])
    _choose(session, order, OfferChoice.CANCEL)
    with pytest.raises(InvalidInput, match="is cancelled") as refused:
        ship(session, "A1", sku="MUG", now=NOW)
    assert refused.value.field == "sku"
    with pytest.raises(InvalidInput, match="it is cancelled"):
        ship(session, "A1", now=NOW)


def test_a_switched_line_cannot_ship_but_its_replacement_can(session: Session) -> None:
    f.product(session, "ALT", stock=5)
    f.product(session, "MUG", stock=0, alternatives=("ALT",))
    order = f.order(session, "A1", [("MUG", 1)])
    _choose(session, order, OfferChoice.SWITCH)
    with pytest.raises(InvalidInput, match="switched"):
        ship(session, "A1", sku="MUG", now=NOW)
    ship(session, "A1", sku="ALT", now=NOW)
    assert order.status == OrderStatus.COMPLETED


def test_the_order_completes_when_its_last_open_line_is_cancelled(session: Session) -> None:
    f.product(session, "MUG", stock=1)
    f.product(session, "PLATE", stock=0)
    order = f.order(session, "A1", [("MUG", 1), ("PLATE", 1)])
    ship(session, "A1", now=NOW)
    assert order.status == OrderStatus.OPEN
    _choose(session, order, OfferChoice.CANCEL)
    assert order.status == OrderStatus.COMPLETED


def test_shipped_units_stop_counting_as_reserved(session: Session) -> None:
    mug = f.product(session, "MUG", stock=5)
    f.order(session, "A1", [("MUG", 3)])
    ship(session, "A1", sku="MUG", quantity=2, now=NOW)
    assert reserved_units(session, mug.id) == 1
    # Two left the shelf: the shop now counts 3 there, one of them still reserved.
    data = ProductData(
        sku="MUG", name="Product MUG", price_cents=1000, category="kitchen", stock_on_hand=3
    )
    assert upsert_product(session, data, NOW).stock_on_hand == 2


def test_a_partly_shipped_line_that_is_cancelled_returns_only_unshipped_units(
    session: Session,
) -> None:
    mug = f.product(session, "MUG", stock=1)
    order = f.order(session, "A1", [("MUG", 3)])  # 1 reserved, 2 on backorder
    ship(session, "A1", now=NOW)
    _choose(session, order, OfferChoice.CANCEL)
    session.refresh(mug)
    assert mug.stock_on_hand == 0  # the shipped unit is gone, not back on sale
    assert reserved_units(session, mug.id) == 0
    assert order.status == OrderStatus.COMPLETED


def test_a_partly_shipped_line_switches_only_its_units_still_to_come(session: Session) -> None:
    f.product(session, "ALT", stock=5)
    mug = f.product(session, "MUG", stock=1, alternatives=("ALT",))
    order = f.order(session, "A1", [("MUG", 3)])  # 1 reserved, 2 on backorder
    ship(session, "A1", now=NOW)
    _choose(session, order, OfferChoice.SWITCH)
    old, new = order.lines
    assert (old.status, old.shipped_quantity) == (LineStatus.SWITCHED, 1)
    assert (new.product.sku, new.quantity) == ("ALT", 2)
    session.refresh(mug)
    assert mug.stock_on_hand == 0


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://example.com/x", "https://", "https://a b.example/"]
)
def test_only_http_tracking_links_are_accepted(session: Session, url: str) -> None:
    f.product(session, "MUG", stock=1)
    f.order(session, "A1", [("MUG", 1)])
    with pytest.raises(InvalidInput, match="http") as refused:
        ship(session, "A1", tracking_url=url, now=NOW)
    assert refused.value.field == "tracking_url"
    assert _shipments(session) == 0


def test_a_https_tracking_link_is_kept(session: Session) -> None:
    f.product(session, "MUG", stock=1)
    f.order(session, "A1", [("MUG", 1)])
    url = "https://track.example.com/?n=1Z999"
    assert ship(session, "A1", tracking_url=url, now=NOW).shipment.tracking_url == url


def test_a_quantity_without_a_sku_is_refused(session: Session) -> None:
    f.product(session, "MUG", stock=1)
    f.order(session, "A1", [("MUG", 1)])
    with pytest.raises(InvalidInput, match="sku") as refused:
        ship(session, "A1", quantity=1, now=NOW)
    assert refused.value.field == "sku"


def test_an_unknown_order_or_sku_is_refused(session: Session) -> None:
    f.product(session, "MUG", stock=1)
    f.order(session, "A1", [("MUG", 1)])
    with pytest.raises(NotFound):
        ship(session, "NOPE", now=NOW)
    with pytest.raises(InvalidInput, match="no line for PLATE"):
        ship(session, "A1", sku="PLATE", now=NOW)


def test_a_retry_with_the_same_key_ships_once(session: Session) -> None:
    f.product(session, "MUG", stock=5)
    order = f.order(session, "A1", [("MUG", 3)])
    first = ship(session, "A1", sku="MUG", quantity=1, idempotency_key="k1", now=NOW)
    again = ship(session, "A1", sku="MUG", quantity=1, idempotency_key="k1", now=NOW)
    assert (again.created, again.shipment.id) == (False, first.shipment.id)
    assert order.lines[0].shipped_quantity == 1
    with pytest.raises(Conflict):
        ship(session, "A1", sku="MUG", quantity=2, idempotency_key="k1", now=NOW)


def test_two_concurrent_ships_of_one_order_never_ship_a_unit_twice(committed_db: Database) -> None:
    # The second call starts while the first holds its transaction open. On PostgreSQL this
    # proves the row locks (without FOR UPDATE both ship); on SQLite the writer lock serialises
    # the two anyway.
    with committed_db.session() as session:
        f.product(session, "MUG", stock=3)
        f.order(session, "A1", [("MUG", 3)])
    first_shipped = threading.Event()
    outcomes: list[str] = []

    def first() -> None:
        with committed_db.session() as session:
            ship(session, "A1", now=NOW)
            first_shipped.set()
            # Hold the transaction open: the second call must wait for it, then see its work.
            threading.Event().wait(0.5)
        outcomes.append("shipped")

    def second() -> None:
        first_shipped.wait(5)
        try:
            with committed_db.session() as session:
                ship(session, "A1", now=NOW)
            outcomes.append("shipped")
        except InvalidInput:
            outcomes.append("refused")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["refused", "shipped"]
    with committed_db.read_session() as session:
        shipped = session.scalar(select(func.sum(ShipmentLine.quantity)))
        stock = session.scalars(select(Product.stock_on_hand)).one()
    assert (shipped, stock) == (3, 0)
