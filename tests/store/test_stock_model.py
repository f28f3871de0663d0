"""The shop's count: ``stock_on_hand`` given by the shop is the units on its shelf, including
the units already reserved for orders not yet shipped. Setting it is idempotent."""

import pytest
from sqlalchemy.orm import Session

from store.allocation import reserved_units
from store.catalog import ProductData, upsert_product
from store.errors import InvalidInput
from store.models import LineStatus, Order, Product
from store.stock import receive_stock
from tests import factories as f
from tests.factories import NOW


def _set_count(session: Session, sku: str, count: int) -> Product:
    data = ProductData(
        sku=sku, name=f"Product {sku}", price_cents=1000, category="kitchen", stock_on_hand=count
    )
    return upsert_product(session, data, NOW)


def _allocated_lines(orders: list[Order]) -> int:
    return sum(1 for o in orders for line in o.lines if line.status == LineStatus.ALLOCATED)


def test_the_same_count_twice_allocates_the_units_once(session: Session) -> None:
    f.product(session, "MUG", stock=0)
    orders = [f.order(session, f"A{i}", [("MUG", 1)]) for i in range(6)]
    _set_count(session, "MUG", 3)
    product = _set_count(session, "MUG", 3)
    assert _allocated_lines(orders) == 3
    assert product.stock_on_hand == 0  # free to promise
    assert reserved_units(session, product.id) == 3


def test_a_count_that_includes_reserved_units_frees_nothing_new(session: Session) -> None:
    f.product(session, "MUG", stock=5)
    f.order(session, "A", [("MUG", 2)])
    product = _set_count(session, "MUG", 5)
    assert product.stock_on_hand == 3
    assert reserved_units(session, product.id) == 2


def test_a_higher_count_fills_waiting_lines_with_the_difference(session: Session) -> None:
    f.product(session, "MUG", stock=1)
    f.order(session, "A", [("MUG", 1)])
    later = f.order(session, "B", [("MUG", 1)])
    product = _set_count(session, "MUG", 2)
    assert later.lines[0].status == LineStatus.ALLOCATED
    assert product.stock_on_hand == 0


def test_a_count_below_the_reserved_units_is_refused(session: Session) -> None:
    f.product(session, "MUG", stock=3)
    f.order(session, "A", [("MUG", 3)])
    with pytest.raises(InvalidInput, match="3 units are reserved"):
        _set_count(session, "MUG", 2)


def test_receipts_add_to_the_count(session: Session) -> None:
    product = f.product(session, "MUG", stock=2)
    f.order(session, "A", [("MUG", 1)])
    receive_stock(session, "MUG", 4, now=NOW)
    assert product.stock_on_hand + reserved_units(session, product.id) == 6
