"""`inbound given-up` lists what nobody acted on; `agents sign-out` ends an agent's sessions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli.main import app
from store.agent_sign_ins import start_sign_in
from store.agents import add_agent
from store.db import Database
from store.inbound_give_ups import give_up_older_than
from store.models import AgentSignIn, Channel, InboundMessage, utcnow

runner = CliRunner()


@pytest.fixture
def cli_db(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", committed_db.url)
    return committed_db


def test_given_up_updates_are_listed_with_what_the_customer_wrote(cli_db: Database) -> None:
    now = utcnow()
    with cli_db.session() as session:
        for update_id, text, age in (
            ("71", "3", dt.timedelta(days=7)),
            ("72", "HELP", dt.timedelta()),
        ):
            session.add(
                InboundMessage(
                    channel=Channel.TELEGRAM,
                    provider_id=update_id,
                    sender="9000000001",
                    body=text,
                    received_at=now - age,
                )
            )
        session.flush()
        marked = give_up_older_than(session, Channel.TELEGRAM, now - dt.timedelta(hours=1), now=now)
    assert [m.provider_id for m in marked] == ["71"]
    listed = runner.invoke(app, ["inbound", "given-up", "--json"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["provider_id"], r["body"], r["channel"]) for r in rows] == [("71", "3", "telegram")]
    table = runner.invoke(app, ["inbound", "given-up"], catch_exceptions=False)
    assert "9000000001" in table.stdout


def test_nothing_given_up_says_so(cli_db: Database) -> None:
    result = runner.invoke(app, ["inbound", "given-up"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "No messages given up on" in result.stdout


def test_agents_sign_out_ends_every_session_of_that_agent(cli_db: Database) -> None:
    now = utcnow()
    with cli_db.session() as session:
        for name in ("ada", "bob"):
            add_agent(session, name, "long password 1", now=now)
        session.flush()
        for nonce, name in (("n1", "ada"), ("n2", "ada"), ("n3", "bob")):
            start_sign_in(session, name, nonce, now=now, expires_at=now + dt.timedelta(hours=8))
    result = runner.invoke(app, ["agents", "sign-out", "Ada"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2 session(s) ended" in result.stdout
    with cli_db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(AgentSignIn)) == 1


def test_signing_out_an_unknown_agent_fails(cli_db: Database) -> None:
    result = runner.invoke(app, ["agents", "sign-out", "nobody"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
