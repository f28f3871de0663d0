"""``store.db_url`` reads a ``DATABASE_URL`` as SQLAlchemy's ``make_url`` reads it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from store.db_url import parse_database_url

EXAMPLES = [
    "sqlite:///var/backorder-bot.db",
    "sqlite:////tmp/shop.db",
    "sqlite://",
    "sqlite:///file:/tmp/ro.db?mode=ro&uri=true",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "postgresql+psycopg://shop:p%40ss%2Fw0rd@db.internal/shop?sslmode=require",
    "postgresql://user:pa:ss@[::1]:6432/db",
    "postgresql+psycopg://:secret@/db?host=/run/postgresql",
    "notaurl",
    "sqlite:/missing-a-slash.db",
]

URL_TEXT = st.text(alphabet=st.sampled_from("ab0:/@?&=%+[]._-#"), min_size=0, max_size=30).map(
    lambda tail: "postgresql+psycopg://" + tail
)


def _sqlalchemys(url: str) -> tuple[object, ...] | None:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    port = None if parsed.port is None else str(parsed.port)
    return (
        parsed.drivername, parsed.username, parsed.password, parsed.host, port, parsed.database,
    )  # fmt: skip


def _ours(url: str) -> tuple[object, ...] | None:
    parsed = parse_database_url(url)
    if parsed is None:
        return None
    port = parsed.port
    if port is not None:
        if not port.isdigit():
            return None  # SQLAlchemy refuses it (ValueError); our readers fall back to it
        port = str(int(port))
    return (
        parsed.drivername, parsed.username, parsed.password, parsed.host, port, parsed.database,
    )  # fmt: skip


@pytest.mark.parametrize("url", EXAMPLES)
def test_the_parts_are_sqlalchemys(url: str) -> None:
    assert _ours(url) == _sqlalchemys(url)


@given(URL_TEXT)
def test_the_parts_are_sqlalchemys_for_any_url(url: str) -> None:
    assert _ours(url) == _sqlalchemys(url)


def test_backend_and_driver() -> None:
    parsed = parse_database_url("postgresql+psycopg://postgres@127.0.0.1/postgres")
    assert parsed is not None
    assert (parsed.backend, parsed.driver) == ("postgresql", "psycopg")
    bare = parse_database_url("sqlite:///x.db")
    assert bare is not None
    assert (bare.backend, bare.driver) == ("sqlite", None)
