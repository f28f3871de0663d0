"""Migration 0017 fills the lines' milestones of rows written before it from what recorded
those moments then: the events, the line's creation, the shipments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

from store.migrate import upgrade
from tests.store.test_migration_money import empty_url  # noqa: F401 (fixture)

T0, T1, T2, T3 = (f"2026-11-0{d} 12:00:00.000000" for d in (2, 3, 4, 5))
_CUSTOMER = (
    "INSERT INTO customers (id, name, locale, timezone, preferred_channel, sms_state,"
    " telegram_state, created_at) VALUES (1, 'Ada', 'en', 'UTC', 'sms', 'active', 'active', :t)"
)
_PRODUCT = (
    "INSERT INTO products (id, sku, name, price_cents, currency, category, stock_on_hand,"
    " updated_at) VALUES (:id, :sku, :sku, :price, 'USD', 'kitchen', 0, :t)"
)
_LINE = (
    "INSERT INTO order_lines (id, order_id, product_id, quantity, allocated_quantity,"
    " backordered_quantity, shipped_quantity, status, eta_slips, delay_notices,"
    " replaces_line_id, replaced_by_line_id, unit_price_cents, currency, created_at)"
    " VALUES (:id, 1, :product, 1, :allocated, 0, :shipped, :status, 0, 0, :replaces,"
    " :replaced_by, :price, :currency, :t)"
)
_EVENT = (
    "INSERT INTO domain_events (kind, customer_id, order_id, line_id, product_id, payload,"
    " created_at) VALUES (:kind, 1, 1, :line, 1, '{}', :t)"
)


def _line(conn: Any, **values: Any) -> None:
    row = {"allocated": 1, "shipped": 0, "replaces": None, "replaced_by": None}
    conn.execute(text(_LINE), {**row, "price": 10_000, "currency": "USD", **values})


def _seed(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(_CUSTOMER), {"t": T0})
        conn.execute(text(_PRODUCT), {"id": 1, "sku": "A", "price": 10_000, "t": T0})
        conn.execute(text(_PRODUCT), {"id": 2, "sku": "ALT", "price": 12_000, "t": T0})
        conn.execute(
            text(
                "INSERT INTO orders (id, number, customer_id, placed_at, status, created_at)"
                " VALUES (1, 'A1', 1, :t, 'open', :t)"
            ),
            {"t": T0},
        )
        _line(conn, id=1, product=1, status="shipped", shipped=1, t=T0)  # waited, then shipped
        _line(conn, id=2, product=1, status="allocated", t=T0)  # in stock when placed
        _line(conn, id=3, product=1, status="switched", allocated=0, replaced_by=None, t=T0)
        _line(
            conn, id=4, product=2, status="allocated", replaces=3, price=None, currency=None, t=T2
        )
        conn.execute(text("UPDATE order_lines SET replaced_by_line_id = 4 WHERE id = 3"))
        for kind, line, at in (
            ("backordered", 1, T0),
            ("ready_to_ship", 1, T1),
            ("backordered", 3, T0),
        ):
            conn.execute(text(_EVENT), {"kind": kind, "line": line, "t": at})
        conn.execute(
            text("INSERT INTO shipments (id, order_id, created_at) VALUES (1, 1, :t)"), {"t": T3}
        )
        conn.execute(
            text("INSERT INTO shipment_lines (shipment_id, line_id, quantity) VALUES (1, 1, 1)")
        )
    engine.dispose()


def test_0017_fills_the_milestones_and_a_switch_lines_price(empty_url: str) -> None:  # noqa: F811
    upgrade(empty_url, "0015")
    _seed(empty_url)
    upgrade(empty_url, "0017")
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, backordered_at, allocated_at, shipped_at, unit_price_cents, currency"
                " FROM order_lines ORDER BY id"
            )
        ).all()
    engine.dispose()

    def day(value: Any) -> str | None:
        return None if value is None else str(value)[:10]

    found = [(r[0], day(r[1]), day(r[2]), day(r[3]), r[4], r[5]) for r in rows]
    assert found == [
        (1, "2026-11-02", "2026-11-03", "2026-11-05", 10_000, "USD"),
        (2, None, "2026-11-02", None, 10_000, "USD"),
        (3, "2026-11-02", None, None, 10_000, "USD"),
        (4, None, "2026-11-04", None, 12_000, "USD"),
    ]
