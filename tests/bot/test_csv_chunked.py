"""A big import is checked whole, then written in short transactions (issue 16): a bad row
still writes nothing, other writers get SQLite's lock between chunks, and an import cut short
is finished by importing the same file again, with no order twice."""

import sqlite3

import pytest
from sqlalchemy import event, func, select

import store.order_bulk
from bot.importing import csv_import
from bot.importing.chunked import ImportInterrupted, chunks, import_in_chunks
from bot.importing.csv_import import ImportFailed, ImportKind
from store.db import Database
from store.errors import StoreError
from store.models import Customer, Order, OrderLine
from store.order_bulk import OrderRefused
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW

PHONES = [f"+1415555{n:04d}" for n in range(3000, 3012)]


def _orders_file(orders: int, *, bad_line_of: int | None = None) -> bytes:
    """Two lines per order (so an order could straddle a chunk), customers by phone."""
    rows = ["number,phone,sku,quantity"]
    for i in range(orders):
        quantity = "two" if i == bad_line_of else "1"
        phone = PHONES[i % len(PHONES)]
        rows += [f"C{i:04d},{phone},MUG,1", f"C{i:04d},{phone},CUP,{quantity}"]
    return ("\n".join(rows) + "\n").encode()


def _import(db: Database, data: bytes, chunk_rows: int = 6, chunk_seconds: float = 60, **kwargs):
    return import_in_chunks(
        db,
        ImportKind.ORDERS,
        data,
        policy=DEFAULT_POLICY,
        now=NOW,
        chunk_rows=chunk_rows,
        chunk_seconds=chunk_seconds,
        **kwargs,
    )


@pytest.fixture
def shop(committed_db: Database) -> Database:
    with committed_db.session() as session:
        f.product(session, "MUG", stock=1000)
        f.product(session, "CUP", stock=1000)
        for phone in PHONES:
            f.customer(session, phone=phone)
    return committed_db


def _counts(db: Database) -> tuple[int, int]:
    with db.read_session() as session:
        orders = session.scalar(select(func.count()).select_from(Order)) or 0
        lines = session.scalar(select(func.count()).select_from(OrderLine)) or 0
    return orders, lines


def test_a_bad_row_anywhere_writes_nothing_even_in_chunks(shop: Database) -> None:
    with pytest.raises(ImportFailed) as caught:
        _import(shop, _orders_file(20, bad_line_of=17))
    assert [str(e) for e in caught.value.errors] == [
        "line 37: quantity must be a whole number, got 'two'"
    ]
    assert _counts(shop) == (0, 0)


def test_each_chunk_is_its_own_commit_and_orders_stay_whole(shop: Database) -> None:
    commits = []

    def count_commit(_conn: object) -> None:
        commits.append(1)

    event.listen(shop.engine, "commit", count_commit)
    try:
        report = _import(shop, _orders_file(20), chunk_rows=6)
    finally:
        event.remove(shop.engine, "commit", count_commit)
    assert report.written == {"orders": 20, "already_present": 0}
    assert _counts(shop) == (20, 40)
    assert len(commits) >= 7  # 40 rows in chunks of 6 rows (3 orders): 7 chunks


def test_a_slow_chunk_is_cut_short_at_its_time_limit(shop: Database) -> None:
    sizes: list[int] = []
    report = _import(shop, _orders_file(5), chunk_rows=500, chunk_seconds=0, progress=sizes.append)
    assert report.written == {"orders": 5, "already_present": 0}
    assert sizes == [2, 2, 2, 2, 2]  # one whole order (two rows) per transaction


def test_chunks_never_split_an_order() -> None:
    parsed = [(n + 2, row) for n, row in enumerate(_rows(("A", 3), ("B", 1), ("C", 4), ("D", 2)))]
    runs = [[row.number for _, row in chunk] for chunk in chunks(ImportKind.ORDERS, parsed, 4)]
    assert runs == [["A", "A", "A", "B"], ["C", "C", "C", "C"], ["D", "D"]]


def _rows(*orders: tuple[str, int]):
    from bot.importing.csv_parsers import OrderRow

    for number, lines in orders:
        for _ in range(lines):
            yield OrderRow(
                number=number,
                phone="+14155553000",
                sku="MUG",
                quantity=1,
                placed_at=None,
                customer_name=None,
            )


def test_other_writers_get_the_lock_between_chunks(shop: Database) -> None:
    if shop.engine.dialect.name != "sqlite":
        pytest.skip("the single write lock is SQLite's")
    path = shop.engine.url.database
    assert path is not None
    got_lock = []

    def try_to_write(_n: int) -> None:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            got_lock.append(True)
        except sqlite3.OperationalError:
            got_lock.append(False)
        finally:
            other.close()

    _import(shop, _orders_file(12), chunk_rows=6, progress=try_to_write)
    assert got_lock
    assert all(got_lock)


def test_an_interrupted_import_is_finished_by_running_it_again(
    shop: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_place_orders = store.order_bulk.place_orders

    def refuse_the_ninth(session, orders, *args):
        numbers = [order.number for order in orders]
        if "C0008" in numbers:
            refused = StoreError("the shop refused this one")
            raise OrderRefused(numbers.index("C0008"), refused)
        return real_place_orders(session, orders, *args)

    monkeypatch.setattr(csv_import, "place_orders", refuse_the_ninth)
    data = _orders_file(20)
    with pytest.raises(ImportInterrupted) as caught:
        _import(shop, data, chunk_rows=6)
    assert [str(e) for e in caught.value.errors] == ["line 18: the shop refused this one"]
    assert caught.value.written_rows == 12  # chunks 1-2 (orders C0000-C0005) are kept
    assert "stopped at line 18" in str(caught.value)
    assert _counts(shop) == (6, 12)

    monkeypatch.setattr(csv_import, "place_orders", real_place_orders)
    report = _import(shop, data, chunk_rows=6)
    assert report.written == {"orders": 14, "already_present": 6}
    assert _counts(shop) == (20, 40)
    with shop.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == len(PHONES)
