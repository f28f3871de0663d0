"""``orders show`` reads through the driver alone for a plain URL (``bot.cli.order_reading``)
and through SQLAlchemy otherwise: both ways print the same, and fail the same."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from bot.cli import order_reading
from bot.cli.main import app
from store import sample
from store.db import Database
from store.models import Order
from store.policy import DEFAULT_POLICY
from store.schema_version import head_revision
from store.shipments import ship
from tests.factories import NOW

runner = CliRunner()


def _through_sqlalchemy(url: str) -> str:
    """The same database, in a URL the driver-only reader leaves to SQLAlchemy (a query)."""
    option = "timeout=20" if url.startswith("sqlite") else "application_name=orders-show"
    return f"{url}{'&' if '?' in url else '?'}{option}"


@pytest.fixture
def shop(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The sample shop with a shipment; every order's number."""
    monkeypatch.chdir(tmp_path)
    with committed_db.session() as session:
        sample.load(
            session, sample.generate(customers=8, orders=20, seed=5, now=NOW),
            policy=DEFAULT_POLICY, now=NOW,
        )  # fmt: skip
        session.flush()
        first = session.scalars(select(Order.number).order_by(Order.id)).first()
        assert first is not None
        ship(session, first, carrier="UPS", tracking="1Z9", now=NOW + dt.timedelta(hours=1))
    with committed_db.read_session() as session:
        return list(session.scalars(select(Order.number).order_by(Order.id)))


def _show(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("DATABASE_URL", url)
    result = runner.invoke(app, ["orders", "show", *args])
    return result.exit_code, result.output


def test_both_ways_print_every_order_the_same(
    shop: list[str], committed_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ways: list[str] = []
    real = order_reading._read_with_sqlalchemy

    def spy(*args: object) -> object:
        ways.append("sqlalchemy")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(order_reading, "_read_with_sqlalchemy", spy)
    for number in shop:
        for flags in ((), ("--json",)):
            fast = _show(monkeypatch, committed_db.url, number, *flags)
            assert ways == [], "a plain URL must be read without SQLAlchemy"
            slow = _show(monkeypatch, _through_sqlalchemy(committed_db.url), number, *flags)
            assert ways == ["sqlalchemy"]
            ways.clear()
            assert fast == slow, number
            assert fast[0] == 0
    assert json.loads(_show(monkeypatch, committed_db.url, shop[0], "--json")[1])["shipments"]


def test_an_unknown_order_and_an_old_schema_fail_the_same_both_ways(
    shop: list[str], committed_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = (committed_db.url, _through_sqlalchemy(committed_db.url))
    unknown = {_show(monkeypatch, url, "NO-SUCH-ORDER") for url in urls}
    assert unknown == {(1, "error: order NO-SUCH-ORDER does not exist\n")}
    head = head_revision()
    with committed_db.session() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '0010'"))
    try:
        old = {_show(monkeypatch, url, shop[0]) for url in urls}
    finally:  # the database is shared by the tests that follow
        with committed_db.session() as session:
            session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert len(old) == 1
    code, output = old.pop()
    assert code == 1
    assert output.startswith("error: the database schema is at revision 0010, this version needs")


def _cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TELEGRAM_"))}
    env |= {"DATABASE_URL": url, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-c", "from bot.cli.main import main; main()", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_missing_sqlite_file_is_exit_2_and_creates_nothing(tmp_path: Path) -> None:
    result = _cli(tmp_path, f"sqlite:///{tmp_path}/typo.db", "orders", "show", "A1")
    assert result.returncode == 2
    assert result.stderr.startswith("error: there is no database at "), result.stderr
    assert not (tmp_path / "typo.db").exists()


def test_a_refused_postgresql_connection_is_one_line_and_exit_3(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing"
    result = _cli(tmp_path, url, "orders", "show", "A1")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot use the database at ")
    assert "refused" in lines[0].lower()
