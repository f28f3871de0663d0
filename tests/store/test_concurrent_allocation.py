"""Racing workers must never allocate more than there is (both databases)."""

import threading

from sqlalchemy import func, select

from store.db import Database
from store.models import OrderLine, Product
from tests import factories as f


def _race(db: Database, workers: int, quantity: int) -> list[BaseException]:
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            with db.session() as session:
                who = f.customer(session, phone=f"+1415666{i:04d}")
                f.order(session, f"RACE-{i}", [("LAST", quantity)], who=who)
        except BaseException as exc:  # collected and asserted on by the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def _allocated_and_stock(db: Database) -> tuple[int, int]:
    with db.read_session() as session:
        allocated = session.scalar(select(func.sum(OrderLine.allocated_quantity)))
        stock = session.scalar(select(Product.stock_on_hand).where(Product.sku == "LAST"))
        assert stock is not None
        return int(allocated or 0), stock


def test_eight_workers_racing_for_the_last_five_units_get_exactly_five(
    committed_db: Database,
) -> None:
    with committed_db.session() as session:
        f.product(session, "LAST", stock=5)
    errors = _race(committed_db, workers=8, quantity=1)
    assert errors == []
    assert _allocated_and_stock(committed_db) == (5, 0)


def test_racing_multi_unit_orders_never_oversell(committed_db: Database) -> None:
    with committed_db.session() as session:
        f.product(session, "LAST", stock=5)
    errors = _race(committed_db, workers=8, quantity=2)
    assert errors == []
    allocated, stock = _allocated_and_stock(committed_db)
    assert allocated + stock == 5
    assert stock == 0
    with committed_db.read_session() as session:
        waiting = session.scalar(select(func.sum(OrderLine.backordered_quantity)))
    assert waiting == 8 * 2 - 5
