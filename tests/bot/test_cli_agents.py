"""``backorder-bot agents tokens ...`` and ``agents password``, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from bot.cli.main import app
from store import api_tokens
from store.agents import add_agent
from store.db import Database
from store.models import AuditEntry, utcnow
from store.tables_api_tokens import AgentApiToken

runner = CliRunner()
PASSWORD = "the old password"


@pytest.fixture
def cli_env(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", committed_db.url)
    with committed_db.session() as session:
        add_agent(session, "ada", PASSWORD, now=utcnow())
    return committed_db


def _run(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin, catch_exceptions=False)


def test_a_token_is_shown_once_kept_hashed_listed_and_revoked(cli_env: Database) -> None:
    issued = _run("agents", "tokens", "issue", "ada", "--label", "helpdesk")
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("bbt_")
    with cli_env.session() as session:
        assert api_tokens.verify(session, token, now=utcnow()) == "ada"
        stored = session.scalars(select(AgentApiToken)).one()
    assert token not in (stored.token_hash, stored.prefix)
    listed = json.loads(_run("agents", "tokens", "list", "--json").stdout)
    assert [(t["agent"], t["label"], t["revoked_at"]) for t in listed] == [
        ("ada", "helpdesk", None)
    ]
    assert token not in _run("agents", "tokens", "list").stdout
    assert _run("agents", "tokens", "revoke", str(stored.id)).exit_code == 0
    with cli_env.session() as session:
        assert api_tokens.verify(session, token, now=utcnow()) is None
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "api_token.issued" in actions
    assert "api_token.revoked" in actions


def test_a_token_for_nobody_or_without_a_label_is_refused(cli_env: Database) -> None:
    nobody = _run("agents", "tokens", "issue", "zed", "--label", "x")
    assert nobody.exit_code != 0
    assert "agent zed does not exist" in nobody.output
    blank = _run("agents", "tokens", "issue", "ada", "--label", "  ")
    assert blank.exit_code != 0
    assert _run("agents", "tokens", "revoke", "999").exit_code != 0
