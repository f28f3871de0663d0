"""The analytics on a big shop: each dashboard query's median time against its target.

Builds (once, then cached under /tmp) a SQLite database with ``--lines`` order lines (default
1,000,000; ``--quick``: 20,000) by bulk executemany (Core ``insert()`` for the catalog, the
driver's for the order tables): 2,000 products of 50 suppliers in three currencies, orders
over a year, 30% of lines backordered, which then waited (and got their units, most of them
shipped), switched, cancelled (with their refund) or still wait, each with its round of
choices; ten supplier dates and five receipts per product. Then times each query the
dashboard's charts and tables run (``store.analytics``): the median wall time of ``--runs``
calls against the target (every chart under 1 s on SQLite), and the median CPU time beside it,
since on a shared machine the wall clock also counts the waits for a core.

The build takes about two minutes for a million lines (the driver's executemany in one
transaction, no fsync: a throwaway file). It is cached by size, generator version and schema
revision, so a new migration builds afresh. With ``--postgres URL`` the same file is copied
(COPY) into a throwaway database on that server and the queries are timed there too.

    python bench/bench_analytics.py [--quick] [--lines 1000000] [--runs 5] [--rebuild]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, insert, text

from bot.agents.analytics_view import analytics_page
from store.analytics.suppliers import scorecards
from store.analytics.waiting import choices_by_wait, flow, revenue, waiting_report
from store.db import Database
from store.migrate import alembic_config, upgrade
from store.models import (
    Customer,
    EtaChange,
    LineStatus,
    Offer,
    OfferChoice,
    OfferStatus,
    Order,
    OrderLine,
    Product,
    Refund,
    StockReceipt,
    Supplier,
)

T0 = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SUPPLIERS, PRODUCTS, CUSTOMERS = 50, 2_000, 20_000
CURRENCIES = (("USD", 10_000), ("EUR", 8_000), ("JPY", 12_000))
TARGET_MS = 1_000.0
CHUNK = 20_000
# The generator's layout; change it when the generator changes so an old cache is not reused.
# The schema's revision is in the file's name too: a new migration (an index) builds afresh.
VERSION = 4


def cached_path(lines: int) -> Path:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return Path(f"/tmp/backorder-bot-bench-analytics-v{VERSION}-r{head}-{lines}.db")


def build(db: Database, lines: int, seed: int = 14) -> None:
    rng = random.Random(seed)
    with db.session() as session:
        session.execute(
            insert(Supplier), [{"id": i + 1, "name": f"Supplier {i + 1}"} for i in range(SUPPLIERS)]
        )
        session.execute(insert(Product), list(_products()))
        session.execute(
            insert(Customer),
            [
                {"id": i + 1, "name": f"Customer {i}", "phone": f"+1415{i:07d}", "created_at": T0}
                for i in range(CUSTOMERS)
            ],
        )
        session.execute(insert(EtaChange), list(_eta_changes(rng)))
        session.execute(insert(StockReceipt), list(_receipts(rng)))
    # The order tables through the driver alone, on a connection of its own: a throwaway file
    # built in one go needs no fsync (a crash leaves a ``.building`` file that is never
    # reused), and a page cache that holds the indexes saves reading their pages back.
    raw = sqlite3.connect(db.engine.url.database or "", isolation_level=None)
    try:
        raw.execute("PRAGMA synchronous = OFF")
        raw.execute("PRAGMA cache_size = -1000000")
        raw.execute("BEGIN")
        # A switched line and its replacement name each other: check keys at commit.
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("PRAGMA defer_foreign_keys = ON")
        for batch in _order_batches(rng, lines):
            for model, rows in batch:
                if rows:
                    _insert_rows(raw, model, rows)
        raw.execute("COMMIT")
    finally:
        raw.close()


_COLUMNS: dict[type, tuple[str, ...]] = {
    Order: ("id", "number", "customer_id", "placed_at", "status", "created_at"),
    OrderLine: (
        "id", "order_id", "product_id", "quantity", "allocated_quantity",
        "backordered_quantity", "shipped_quantity", "status", "eta_slips", "delay_notices",
        "replaced_by_line_id", "replaces_line_id", "unit_price_cents", "currency",
        "backordered_at", "allocated_at", "shipped_at", "created_at",
    ),
    Offer: (
        "id", "line_id", "customer_id", "status", "discount_percent", "expires_at",
        "default_choice", "choice", "decided_at", "decided_via", "created_at",
    ),
    Refund: (
        "order_id", "line_id", "quantity", "amount_cents", "currency", "reason", "created_at",
    ),
}  # fmt: skip
_DEFAULTS = {"eta_slips": 0, "delay_notices": 0}


def _insert_rows(conn: sqlite3.Connection, model: type, rows: list[dict[str, Any]]) -> None:
    """The order tables' bulk: one executemany of plain tuples per table and batch.

    A million rows through the ORM's (or Core's) per-value bind processing took over an hour
    on this shared machine; the driver's executemany with values already in SQLAlchemy's own
    SQLite format (ISO text for timestamps, enum values as text) takes minutes.
    """
    columns = _COLUMNS[model]
    table = model.__tablename__  # type: ignore[attr-defined]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    conn.executemany(
        sql, [tuple(_plain(row.get(c, _DEFAULTS.get(c))) for c in columns) for row in rows]
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, StrEnum):
        return value.value
    return value


def _products() -> Iterator[dict[str, Any]]:
    for i in range(PRODUCTS):
        currency, price = CURRENCIES[i % len(CURRENCIES)]
        yield {
            "id": i + 1,
            "sku": f"SKU-{i:05d}",
            "name": f"Product {i}",
            "price_cents": price,
            "currency": currency,
            "category": "bench",
            "stock_on_hand": 0,
            "supplier_id": i % SUPPLIERS + 1,
            "updated_at": T0,
        }


def _eta_changes(rng: random.Random) -> Iterator[dict[str, Any]]:
    for product in range(1, PRODUCTS + 1):
        old: dt.date | None = None
        for n in range(10):
            new = (T0 + (n * 36 + rng.randint(5, 40)) * DAY).date()
            yield {
                "product_id": product,
                "old_eta": old,
                "new_eta": new,
                "source": "supplier",
                "created_at": T0 + n * 36 * DAY + rng.randint(0, 3) * DAY,
            }
            old = new


def _receipts(rng: random.Random) -> Iterator[dict[str, Any]]:
    for product in range(1, PRODUCTS + 1):
        for n in range(5):
            yield {
                "product_id": product,
                "quantity": rng.randint(5, 50),
                "reference": f"R-{product}-{n}",
                "allocated_quantity": 0,
                "created_at": T0 + (n * 72 + rng.randint(20, 60)) * DAY,
            }


def _order_batches(
    rng: random.Random, lines: int
) -> Iterator[list[tuple[type, list[dict[str, Any]]]]]:
    line_id = offer_id = order_id = 0
    written = 0
    while written < lines:
        orders, order_lines, offers, refunds = [], [], [], []
        while written < lines and len(order_lines) < CHUNK:
            order_id += 1
            customer = rng.randint(1, CUSTOMERS)
            placed = T0 + dt.timedelta(seconds=rng.randint(0, 364 * 86_400))
            orders.append(
                {
                    "id": order_id,
                    "number": f"B{order_id}",
                    "customer_id": customer,
                    "placed_at": placed,
                    "status": "open",
                    "created_at": placed,
                }
            )
            for _ in range(min(2, lines - written)):
                line_id += 1
                product = rng.randint(1, PRODUCTS)
                made = _line(rng, line_id, order_id, product, placed)
                order_lines.extend(made.lines)
                written += len(made.lines)
                line_id = made.lines[-1]["id"]
                if made.offer is not None:
                    offer_id += 1
                    offers.append({**made.offer, "id": offer_id, "customer_id": customer})
                if made.refund is not None:
                    refunds.append({**made.refund, "order_id": order_id})
        yield [(Order, orders), (OrderLine, order_lines), (Offer, offers), (Refund, refunds)]


class _Made:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.offer: dict[str, Any] | None = None
        self.refund: dict[str, Any] | None = None


def _line(rng: random.Random, lid: int, oid: int, product: int, placed: dt.datetime) -> _Made:
    made = _Made()
    currency, price = CURRENCIES[(product - 1) % len(CURRENCIES)]
    qty = rng.randint(1, 3)
    base = {
        "id": lid,
        "order_id": oid,
        "product_id": product,
        "quantity": qty,
        "unit_price_cents": price,
        "currency": currency,
        "created_at": placed,
        "allocated_quantity": qty,
        "backordered_quantity": 0,
        "shipped_quantity": 0,
    }
    if rng.random() >= 0.3:  # in stock when ordered
        shipped = rng.random() < 0.8
        made.lines.append(
            {
                **base,
                "status": LineStatus.SHIPPED if shipped else LineStatus.ALLOCATED,
                "allocated_at": placed,
                "shipped_quantity": qty if shipped else 0,
                "shipped_at": placed + rng.randint(0, 4) * DAY if shipped else None,
            }
        )
        return made
    decided = placed + dt.timedelta(seconds=rng.randint(0, 35 * 86_400))
    offer = {
        "line_id": lid,
        "discount_percent": 10,
        "expires_at": placed + 7 * DAY,
        "default_choice": OfferChoice.WAIT,
        "created_at": placed,
        "status": OfferStatus.ACCEPTED,
        "decided_at": decided,
        "decided_via": "sms",
    }
    waited = {**base, "backordered_at": placed}
    roll = rng.random()
    if roll < 0.45:  # waited, then got its units
        allocated = placed + dt.timedelta(seconds=rng.randint(3600, 40 * 86_400))
        shipped = rng.random() < 0.7
        made.lines.append(
            {
                **waited,
                "status": LineStatus.SHIPPED if shipped else LineStatus.ALLOCATED,
                "allocated_at": allocated,
                "shipped_quantity": qty if shipped else 0,
                "shipped_at": allocated + rng.randint(0, 5) * DAY if shipped else None,
            }
        )
        made.offer = {**offer, "choice": OfferChoice.WAIT}
    elif roll < 0.55:  # switched to another product, in stock
        made.lines.append(
            {
                **waited,
                "status": LineStatus.SWITCHED,
                "allocated_quantity": 0,
                "replaced_by_line_id": lid + 1,
            }
        )
        made.lines.append(
            {
                **base,
                "id": lid + 1,
                "product_id": product % PRODUCTS + 1,
                "status": LineStatus.ALLOCATED,
                "replaces_line_id": lid,
                "allocated_at": decided,
            }
        )
        made.offer = {**offer, "choice": OfferChoice.SWITCH}
    elif roll < 0.75:  # cancelled: refunded
        made.lines.append({**waited, "status": LineStatus.CANCELLED, "allocated_quantity": 0})
        made.offer = {**offer, "choice": OfferChoice.CANCEL}
        made.refund = {
            "line_id": lid,
            "quantity": qty,
            "amount_cents": qty * price,
            "currency": currency,
            "reason": "customer_choice",
            "created_at": decided,
        }
    else:  # still waiting, its offer open
        made.lines.append(
            {
                **waited,
                "status": LineStatus.BACKORDERED,
                "allocated_quantity": 0,
                "backordered_quantity": qty,
            }
        )
        made.offer = {**offer, "status": OfferStatus.OPEN, "decided_at": None, "decided_via": None}
    return made


def median_ms(call: Callable[[], object], runs: int) -> tuple[float, float]:
    """The median wall and CPU milliseconds of ``runs`` calls."""
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def open_cached(lines: int, rebuild: bool) -> Database:
    path = cached_path(lines)
    if rebuild and path.exists():
        path.unlink()
    url = f"sqlite:///{path}"
    if path.exists():
        print(f"using the cached {path}")
        return Database(url)
    partial = path.with_suffix(".building")
    partial.unlink(missing_ok=True)
    upgrade(f"sqlite:///{partial}")
    db = Database(f"sqlite:///{partial}")
    started, started_cpu = time.perf_counter(), time.process_time()
    build(db, lines)
    db.dispose()
    partial.rename(path)  # only a finished build is ever reused
    took, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    print(f"built {lines:,} order lines in {took:.1f} s (CPU {cpu:.1f} s): {path}")
    return Database(url)


def floor_ms(db: Database, runs: int) -> tuple[float, float]:
    """The floor: the driver alone reading every waited line's analytics columns from the
    lines-that-waited index, the least any exact figure over them must read."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        sql = (
            "SELECT backordered_at, allocated_at, shipped_at, status, quantity, unit_price_cents"
            " FROM order_lines WHERE backordered_at IS NOT NULL"
        )
        return median_ms(lambda: cursor.execute(sql).fetchall(), runs)
    finally:
        raw.close()


# The tables the generated history lives in, in an order their keys allow.
PG_TABLES = (
    "suppliers", "products", "customers", "eta_changes", "stock_receipts",
    "orders", "order_lines", "offers", "refunds",
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 lines, for CI")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="build the cached file again")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also time the queries on a copy of the file on this server (a throwaway database)",
    )
    args = parser.parse_args()
    lines = 20_000 if args.quick else args.lines
    db = open_cached(lines, args.rebuild)
    floor, floor_cpu = floor_ms(db, args.runs)
    print(f"{lines:,} order lines, SQLite, median of {args.runs}, load {_load()}:")
    print(f"  floor (driver reads the waited lines): {floor:.0f} ms, CPU {floor_cpu:.0f} ms")
    time_cases(db, args.runs, floor)
    db.dispose()
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.webhook_pg
        from bench.webhook_pg import postgres_copy

        started = time.perf_counter()
        with postgres_copy(
            cached_path(lines), args.postgres, tables=PG_TABLES, prefix="bench_analytics"
        ) as url:
            _vacuum(url)
            print(f"copied to PostgreSQL and vacuumed in {time.perf_counter() - started:.0f} s")
            pg = Database(url)
            print(
                f"{lines:,} order lines, PostgreSQL, median of {args.runs}, load {_load()}"
                " (CPU: this process only, not the server's):"
            )
            time_cases(pg, args.runs, None)
            pg.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS {rss:.0f} MiB; load after {_load()}")


def _vacuum(url: str) -> None:
    """What autovacuum does to a live database: with the visibility map set, PostgreSQL may
    answer from the indexes alone (a fresh COPY leaves every page to be checked in the heap)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
    finally:
        engine.dispose()


def time_cases(db: Database, runs: int, floor: float | None) -> None:
    """Each chart's median wall and CPU time against the target (and the floor, if given)."""
    with db.read_session() as session:
        cases: dict[str, Callable[[], object]] = {
            "supplier scorecard": lambda: scorecards(session),
            "backorder -> allocation -> shipment": lambda: flow(session),
            "choices by wait band": lambda: choices_by_wait(session),
            "revenue kept/lost (SKU, supplier, week)": lambda: revenue(session),
            "whole page (all of the above + charts)": lambda: analytics_page(
                scorecards(session), waiting_report(session)
            ),
        }
        for name, call in cases.items():
            took, cpu = median_ms(call, runs)
            verdict = "PASS" if took < TARGET_MS else "MISS"
            ratio = f", {took / max(floor, 0.01):.1f}x floor" if floor is not None else ""
            print(
                f"  {name}: {took:.0f} ms, CPU {cpu:.0f} ms{ratio}"
                f" (target < {TARGET_MS:.0f} ms) {verdict}"
            )


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
