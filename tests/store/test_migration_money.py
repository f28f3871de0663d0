"""Migration 0010 rescales prices stored as value x 100 into each currency's own minor units."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from store.migrate import alembic_config, upgrade

# What the old parsers stored: every price x 100.
OLD = {"TEA": ("JPY", 150_050), "DATES": ("KWD", 1250), "MUG": ("USD", 1490)}


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    """A new, empty database on the suite's server (or a SQLite file)."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    name = f"test_mig_{secrets.token_hex(4)}"
    admin = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _prices(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT sku, price_cents FROM products")).all()
    engine.dispose()
    return {sku: price for sku, price in rows}


def test_0010_rescales_jpy_and_kwd_and_leaves_usd(empty_url: str) -> None:
    upgrade(empty_url, "0009")
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        for sku, (currency, price) in OLD.items():
            conn.execute(
                text(
                    "INSERT INTO products (sku, name, price_cents, currency, category,"
                    " stock_on_hand, updated_at) VALUES (:sku, :sku, :price, :currency,"
                    " 'kitchen', 0, CURRENT_TIMESTAMP)"
                ),
                {"sku": sku, "price": price, "currency": currency},
            )
    engine.dispose()
    upgrade(empty_url, "0010")
    # JPY 1500.50 had no yen to keep: half-up to 1501; KWD 12.50 is 12,500 fils.
    assert _prices(empty_url) == {"TEA": 1501, "DATES": 12_500, "MUG": 1490}
    command.downgrade(alembic_config(empty_url), "0009")
    assert _prices(empty_url) == {"TEA": 150_100, "DATES": 1250, "MUG": 1490}
