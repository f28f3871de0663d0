"""``backorder-bot orders ship``: ships reserved units, refuses the rest with a non-zero exit."""

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli.main import app
from store.db import Database
from store.models import LineStatus, OrderLine, OrderStatus, Shipment
from store.orders import find_order
from tests import factories as f

runner = CliRunner()
SHIP_A1 = ["orders", "ship", "A1"]


@pytest.fixture
def cli_env(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", committed_db.url)
    with committed_db.session() as session:
        f.product(session, "MUG", stock=3)
        f.product(session, "PLATE", stock=1)
        f.order(session, "A1", [("MUG", 3), ("PLATE", 1)])
    return committed_db


def _shipments(db: Database) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Shipment)) or 0


def test_ship_part_of_a_line_then_the_rest_completes_the_order(cli_env: Database) -> None:
    tracking = ["--carrier", "UPS", "--tracking", "1Z9", "--tracking-url", "https://ups.example/t"]
    result = runner.invoke(app, [*SHIP_A1, "--sku", "MUG", "--quantity", "2", *tracking, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["lines"] == [{"sku": "MUG", "quantity": 2}]
    assert shown["order"]["status"] == "open"
    result = runner.invoke(app, ["orders", "ship", "A1"])
    assert result.exit_code == 0, result.output
    assert "Shipped 1 x MUG, 1 x PLATE of order A1" in result.stdout
    assert "Order A1 is completed." in result.stdout
    with cli_env.read_session() as session:
        order = find_order(session, "A1")
        assert order.status == OrderStatus.COMPLETED
        lines = session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))
        assert {line.status for line in lines} == {LineStatus.SHIPPED}


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--sku", "MUG", "--quantity", "4"], 1, "only 3 units of MUG"),
        (["--tracking-url", "javascript:alert(1)"], 1, "http:// or https://"),
        (["--quantity", "1"], 2, "--quantity needs --sku"),
    ],
)
def test_refusals_exit_non_zero_and_ship_nothing(
    cli_env: Database, args: list[str], code: int, words: str
) -> None:
    result = runner.invoke(app, ["orders", "ship", "A1", *args])
    assert result.exit_code == code
    assert words in result.stderr
    assert _shipments(cli_env) == 0


def test_an_unknown_order_exits_1(cli_env: Database) -> None:
    result = runner.invoke(app, ["orders", "ship", "NOPE"])
    assert result.exit_code == 1
    assert "order NOPE does not exist" in result.stderr


def test_orders_show_lists_shipped_units_and_shipments(cli_env: Database) -> None:
    tracking = ["--carrier", "UPS", "--tracking-url", "https://ups.example/t/1Z9"]
    assert runner.invoke(app, [*SHIP_A1, "--sku", "PLATE", *tracking]).exit_code == 0
    result = runner.invoke(app, ["orders", "show", "A1"])
    assert result.exit_code == 0, result.output
    assert "1 x PLATE (UPS https://ups.example/t/1Z9)" in result.stdout
    shown = runner.invoke(app, ["orders", "show", "A1", "--json"])
    lines = {line["sku"]: line["shipped"] for line in json.loads(shown.stdout)["lines"]}
    assert lines == {"MUG": 0, "PLATE": 1}
