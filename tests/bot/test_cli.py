"""The command line, run in-process against the test database."""

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli.main import app
from store.db import Database
from store.models import (
    Channel,
    Customer,
    DomainEvent,
    EtaChange,
    OutboxMessage,
    OutboxStatus,
    Product,
)
from tests import factories as f

runner = CliRunner()


@pytest.fixture
def cli_env(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    monkeypatch.setenv("DATABASE_URL", committed_db.url)
    return committed_db


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _count(db: Database, model: type) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_help_lists_the_commands() -> None:
    result = _run("--help")
    assert result.exit_code == 0
    for command in ("db", "import", "stock", "eta", "orders", "backorders", "report", "sample"):
        assert command in result.output


def test_backorders_json_is_valid_json_grouped_by_sku(cli_env: Database) -> None:
    assert _run("sample", "load", "--customers", "12", "--orders", "30").exit_code == 0
    result = _run("backorders", "--json")
    assert result.exit_code == 0
    groups = json.loads(result.stdout)
    assert groups, "the sample data has backorders"
    for group in groups:
        assert group["units_waiting"] == sum(
            line["backordered_quantity"] for line in group["lines"]
        )


def test_report_json_has_one_row_per_waiting_sku(cli_env: Database) -> None:
    _run("sample", "load", "--customers", "12", "--orders", "30")
    rows = json.loads(_run("report", "--json").stdout)
    assert len({r["sku"] for r in rows}) == len(rows)
    assert all(r["oldest_wait_days"] >= 0 and r["lines_waiting"] > 0 for r in rows)


def _report_shape() -> list[tuple[str, int, int]]:
    # The sample is placed relative to "now": compare what waits, not when.
    rows = json.loads(_run("report", "--json").stdout)
    return [(r["sku"], r["lines_waiting"], r["units_waiting"]) for r in rows]


def test_sample_load_is_deterministic(cli_env: Database) -> None:
    _run("sample", "load", "--seed", "3")
    first = _report_shape()
    _run("sample", "load", "--seed", "3", "--fresh")
    assert _report_shape() == first
    _run("sample", "load", "--seed", "4", "--fresh")
    assert _report_shape() != first


def test_bad_csv_exits_non_zero_lists_lines_and_writes_nothing(
    cli_env: Database, tmp_path: Path
) -> None:
    csv = tmp_path / "customers.csv"
    csv.write_bytes(b"name,phone\nAda,+14155550100\nBob,12\n")
    result = _run("import", "customers", str(csv))
    assert result.exit_code == 1
    assert "customers.csv: line 3:" in result.stderr
    assert "nothing was imported" in result.stderr
    assert _count(cli_env, Customer) == 0


def test_good_csv_is_imported_and_dry_run_writes_nothing(cli_env: Database, tmp_path: Path) -> None:
    csv = tmp_path / "catalog.csv"
    csv.write_text("sku,name,price,category,stock_on_hand\nMUG,Mug,9.50,kitchen,3\n")
    dry = _run("import", "catalog", str(csv), "--dry-run")
    assert dry.exit_code == 0
    assert _count(cli_env, Product) == 0
    assert _run("import", "catalog", str(csv)).exit_code == 0
    assert _count(cli_env, Product) == 1


def test_stock_receive_fills_waiting_orders_shown_by_orders_show(cli_env: Database) -> None:
    _run("sample", "load", "--customers", "12", "--orders", "30")
    group = json.loads(_run("backorders", "--json").stdout)[0]
    number = group["lines"][0]["order_number"]
    wanted = group["lines"][0]["backordered_quantity"]
    assert _run("stock", "receive", group["sku"], str(wanted)).exit_code == 0
    order = json.loads(_run("orders", "show", number, "--json").stdout)
    line = next(line for line in order["lines"] if line["sku"] == group["sku"])
    assert line["backordered"] == 0


def test_unknown_sku_is_a_clear_error(cli_env: Database) -> None:
    result = _run("stock", "receive", "NOPE", "1")
    assert result.exit_code == 1
    assert "unknown sku 'NOPE'" in result.stderr


def test_eta_set_rejects_a_malformed_date(cli_env: Database) -> None:
    result = _run("eta", "set", "MUG", "31/12/2026")
    assert result.exit_code == 2


def test_invalid_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Mars/Olympus_Mons")
    result = _run("report")
    assert result.exit_code == 2
    assert "DEFAULT_TIMEZONE" in result.stderr


def test_unmigrated_database_says_to_run_db_upgrade(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.db").touch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = _run("report")
    assert result.exit_code == 1
    assert "no tables yet: run `backorder-bot db upgrade`" in result.stderr


def test_sample_history_is_not_sent_but_new_events_are(
    cli_env: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No quiet hours and a fast sender, so the outcome does not depend on the time of day.
    monkeypatch.setenv("QUIET_HOURS_START", "00:00")
    monkeypatch.setenv("QUIET_HOURS_END", "00:00")
    monkeypatch.setenv("SMS_RATE_PER_SECOND", "1000")
    _run("sample", "load", "--customers", "12", "--orders", "30")
    first = _run("dispatch", "--once")
    assert first.exit_code == 0
    assert "0 message(s) queued from events" in first.stdout
    group = json.loads(_run("backorders", "--json").stdout)[0]
    later = (dt.date.today() + dt.timedelta(days=400)).isoformat()  # within the 2-year bound
    assert _run("eta", "set", group["sku"], later).exit_code == 0
    second = _run("dispatch", "--once")
    told = len(group["lines"])
    assert f"{told} message(s) queued from events; {told} sent" in second.stdout


def test_outbox_lists_what_needs_a_person_and_retry_requeues_it(cli_env: Database) -> None:
    with cli_env.session() as session:
        customer = Customer(name="Ada", phone="+14155550100")
        session.add(customer)
        session.flush()
        session.add(
            OutboxMessage(
                dedupe_key="x",
                customer_id=customer.id,
                channel=Channel.SMS,
                address="+14155550100",
                message="broadcast",
                locale="en",
                body="hi",
                status=OutboxStatus.FAILED,
                last_error="sms_bad_request",
            )
        )
    listing = json.loads(_run("outbox", "--json").stdout)
    assert listing["counts"] == {"failed": 1}
    [row] = listing["rows"]
    assert row["last_error"] == "sms_bad_request"
    assert _run("outbox", "retry", str(row["id"])).exit_code == 0
    assert json.loads(_run("outbox", "--json").stdout)["counts"] == {"pending": 1}
    assert _run("outbox", "retry", str(row["id"])).exit_code == 1


def test_revoke_link_closes_the_order_page_and_a_second_revoke_says_so(cli_env: Database) -> None:
    from store import order_links
    from store.models import Order, utcnow

    assert _run("sample", "load", "--customers", "5", "--orders", "5").exit_code == 0
    with cli_env.session() as session:
        order = session.scalars(select(Order).order_by(Order.id)).first()
        assert order is not None
        number = order.number
        token = order_links.token_for_order(session, order.id, b"k" * 32, utcnow())
    assert order_links.is_well_formed(token)
    first = _run("orders", "revoke-link", number)
    assert first.exit_code == 0
    assert "revoked" in first.stdout
    with cli_env.read_session() as session:
        assert order_links.find_order_id(session, token) is None
    assert "no live page link" in _run("orders", "revoke-link", number).stdout
    assert _run("orders", "revoke-link", "NOPE-1").exit_code == 1


def test_eta_set_refuses_a_past_date_and_changes_nothing(cli_env: Database) -> None:
    with cli_env.session() as session:
        f.product(session, "MUG", eta=dt.date.today() + dt.timedelta(days=30))
        f.order(session, "A1", [("MUG", 1)])
    events, changes = _count(cli_env, DomainEvent), _count(cli_env, EtaChange)
    for date in ("2020-01-01", "0001-01-01"):
        result = _run("eta", "set", "MUG", date)
        assert result.exit_code == 1
        assert f"eta {date} is in the past" in result.stderr
    assert (_count(cli_env, DomainEvent), _count(cli_env, EtaChange)) == (events, changes)
