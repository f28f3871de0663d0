"""What a newcomer reads: help text, usage errors, summaries and piped tables."""

import datetime as dt
from pathlib import Path

import click
import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from bot.cli.main import app
from bot.importing.csv_import import COLUMNS
from messaging.broadcast_content import BROADCAST_TEMPLATES
from store.db import Database
from tests import factories as f

runner = CliRunner()


@pytest.fixture
def cli_env(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", committed_db.url)
    monkeypatch.setenv("COLUMNS", "80")
    return committed_db


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "80"})


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    # list_commands/get_command, not .commands: the lazy group loads its commands on demand.
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, TyperGroup):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def _flat(text: str) -> str:
    """Help as words: Rich's box characters and line breaks removed."""
    return " ".join(text.replace("│", " ").split())


@pytest.mark.parametrize("command", _commands(typer.main.get_group(app)), ids=" ".join)
def test_help_shows_no_type_for_flags_and_no_strftime_patterns(command: tuple[str, ...]) -> None:
    result = _run(*command, "--help")
    assert result.exit_code == 0
    assert "<bool>" not in result.output
    assert "%Y" not in result.output


def test_import_help_lists_every_column() -> None:
    text = _flat(_run("import", "--help").output)
    for required, optional in COLUMNS.values():
        for column in (*required, *optional):
            assert column in text


def test_broadcast_help_lists_the_templates() -> None:
    text = _flat(_run("broadcast", "--help").output)
    for name in BROADCAST_TEMPLATES:
        assert name in text


def test_version_prints_the_version() -> None:
    result = _run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("backorder-bot 0.")


def test_a_negative_quantity_says_it_must_be_positive(cli_env: Database) -> None:
    result = _run("stock", "receive", "MUG", "-3")
    assert result.exit_code == 2
    assert "must be positive" in _flat(result.output)


def test_an_impossible_day_says_the_day_does_not_exist(cli_env: Database) -> None:
    result = _run("eta", "set", "MUG", "2026-02-30")
    assert result.exit_code == 2
    assert "that day does not exist" in _flat(result.output)


def test_outbox_retry_names_an_id_that_is_not_there(cli_env: Database) -> None:
    result = _run("outbox", "retry", "99999")
    assert result.exit_code == 1
    assert "there is no message 99999 in the outbox" in result.stderr


def test_outbox_mentions_events_waiting_for_dispatch(cli_env: Database) -> None:
    with cli_env.session() as session:
        f.product(session, "MUG")
        f.order(session, "A1", [("MUG", 1)])  # backordered: events, no messages yet
    result = _run("outbox")
    assert "No messages in the outbox." in result.stdout
    assert "wait for `backorder-bot dispatch`" in _flat(result.stdout)


def test_importing_known_orders_again_reads_plainly(cli_env: Database, tmp_path: Path) -> None:
    with cli_env.session() as session:
        f.product(session, "MUG", stock=10)
        f.customer(session, phone="+14155550100")
    csv = tmp_path / "orders.csv"
    csv.write_text("number,phone,sku,quantity\nA1,+14155550100,MUG,1\nA1,+14155550100,MUG,1\n")
    assert _run("import", "orders", str(csv)).exit_code == 0
    again = _run("import", "orders", str(csv))
    assert "orders.csv: 2 row(s) imported: 1 order(s): 0 new, 1 already imported" in again.stdout


def test_piped_tables_are_not_cut_at_80_columns(cli_env: Database) -> None:
    eta = dt.date.today() + dt.timedelta(days=60)
    with cli_env.session() as session:
        f.product(session, "MUG-WITH-A-LONG-SKU", eta=eta, supplier="A Supplier With A Long Name")
        f.order(session, "ORDER-NUMBER-0001", [("MUG-WITH-A-LONG-SKU", 1)])
    report = _run("report")
    assert eta.isoformat() in report.stdout
    assert "A Supplier With A Long Name" in report.stdout
    assert "backordered" in _run("orders", "show", "ORDER-NUMBER-0001").stdout
    assert "…" not in report.stdout
