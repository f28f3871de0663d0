"""``report suppliers`` and ``report waiting``: the known history's figures, as JSON and CSV."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from store.db import Database
from tests.store.analytics import history

runner = CliRunner()


@pytest.fixture
def shop(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    monkeypatch.setenv("DATABASE_URL", committed_db.url)
    monkeypatch.setenv("DEFAULT_TIMEZONE", "UTC")
    with committed_db.session() as session:
        history.build(session)
    return committed_db


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_report_suppliers_json_has_each_suppliers_scorecard(shop: Database) -> None:
    result = _run("report", "suppliers", "--json")
    assert result.exit_code == 0, result.output
    cards = {card["supplier"]: card for card in json.loads(result.stdout)}
    assert set(cards) == {"Acme", "Birch"}
    acme = cards["Acme"]
    assert acme["on_first_date_share"] == 0.0
    assert acme["average_days_late"] == 4.5
    assert (acme["slips"], acme["slip_days"], acme["open_backorder_units"]) == (1, 5, 3)
    assert [r["days_late"] for r in acme["receipts_history"]] == [2, 7]
    assert cards["Birch"]["on_first_date_share"] == 1.0


def test_report_suppliers_prints_a_table(shop: Database) -> None:
    result = _run("report", "suppliers")
    assert result.exit_code == 0
    assert "Acme" in result.stdout
    assert "Birch" in result.stdout
    assert "100%" in result.stdout  # Birch on its first date


def test_report_waiting_json_and_csv_carry_the_same_figures(shop: Database, tmp_path: Path) -> None:
    target = tmp_path / "waiting.csv"
    result = _run("report", "waiting", "--json", "--csv", str(target))
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["flow"]["backorder_to_allocation"]["p50_seconds"] == 10 * 86_400
    assert record["choices_by_wait"][1] == {
        "band": "7-14d",
        "wait": 0,
        "switch": 0,
        "cancel": 1,
        "by_silence": 0,
        "decisions": 1,
        "cancel_rate": 1.0,
    }
    assert record["revenue"]["totals"]["USD"]["lost_minor"] == 10_000
    assert record["revenue"]["by_supplier"]["Birch"]["EUR"]["kept_minor"] == 11_000
    with target.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    value = {(r["section"], r["subject"], r["currency"], r["measure"]): r["value"] for r in rows}
    assert value[("flow", "backorder_to_allocation", "", "p50_seconds")] == str(10 * 86_400)
    assert value[("revenue_total", "all", "USD", "lost_minor")] == "10000"
    assert value[("revenue_by_week", "2026-11-16", "USD", "waiting_minor")] == "30000"
    assert value[("choices_by_wait", "7-14d", "", "cancel_rate")] == "1.0"


def test_report_waiting_prints_tables_in_the_currencys_units(shop: Database) -> None:
    result = _run("report", "waiting")
    assert result.exit_code == 0
    assert "400.00" in result.stdout  # USD kept: 40000 minor units
    assert "110.00" in result.stdout  # EUR kept


def test_an_unwritable_csv_path_is_one_error_line(shop: Database, tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "waiting", "--csv", str(tmp_path / "no" / "x.csv")])
    assert result.exit_code == 1
    assert "cannot write" in result.output


def test_report_without_a_sub_command_is_still_the_backorders_by_sku(shop: Database) -> None:
    rows = json.loads(_run("report", "--json").stdout)
    assert {row["sku"] for row in rows} == {"A", "B"}
