"""``backorder-bot customers link-token``: a one-time link that really links a chat."""

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli.main import app
from store.db import Database
from store.models import Customer, TelegramLinkToken, utcnow
from store.telegram_links import redeem_link_token
from tests import factories as f

runner = CliRunner()
PHONE = "+14155550144"


@pytest.fixture
def cli_env(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", committed_db.url)
    with committed_db.session() as session:
        f.customer(session, phone=PHONE)
    return committed_db


def test_link_token_prints_a_deep_link_whose_token_links_a_chat(
    cli_env: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "casa_verde_bot")
    result = runner.invoke(app, ["customers", "link-token", "(415) 555-0144", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["link"] == f"https://t.me/casa_verde_bot?start={shown['token']}"
    with cli_env.session() as session:
        # Only the hash is stored; the printed token is the one that works.
        stored = session.scalars(select(TelegramLinkToken.token_hash)).one()
        assert shown["token"] not in stored
        customer = redeem_link_token(session, shown["token"], 777, 777, utcnow())
        assert customer is not None
        assert customer.phone == PHONE


def test_link_token_without_a_bot_username_prints_the_start_command(cli_env: Database) -> None:
    result = runner.invoke(app, ["customers", "link-token", PHONE])
    assert result.exit_code == 0, result.output
    assert "/start " in result.stdout


@pytest.mark.parametrize(
    ("phone", "code", "words"),
    [("+14155550999", 1, "no customer"), ("not a phone", 2, "cannot be read")],
)
def test_link_token_refuses_unknown_or_bad_numbers(
    cli_env: Database, phone: str, code: int, words: str
) -> None:
    result = runner.invoke(app, ["customers", "link-token", phone])
    assert result.exit_code == code
    assert words in result.stderr
    with cli_env.read_session() as session:
        assert session.scalars(select(TelegramLinkToken)).all() == []
        assert session.scalars(select(Customer.telegram_chat_id)).one() is None


def test_import_customers_gives_new_customers_the_settings_default_timezone(
    cli_env: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DEFAULT_TIMEZONE", "America/New_York")
    monkeypatch.setenv("DEFAULT_LOCALE", "es")
    csv = tmp_path / "customers.csv"
    csv.write_bytes(b"name,phone\nBea,+14155550145\n")
    result = runner.invoke(app, ["import", "customers", str(csv)])
    assert result.exit_code == 0, result.output
    with cli_env.session() as session:
        bea = session.scalars(select(Customer).where(Customer.phone == "+14155550145")).one()
        assert (bea.locale, bea.timezone) == ("es", "America/New_York")
