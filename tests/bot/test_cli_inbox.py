"""``backorder-bot inbox list|show|assign|close``, run in-process, in an 80-column terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner, Result

from bot.cli.main import app
from store import inbox
from store.agents import add_agent
from store.db import Database
from store.models import AuditEntry, Channel, Customer, InboundMessage, utcnow
from store.tables_inbox import InboxKind
from tests import factories as f

runner = CliRunner()
LONG = "my parcel never came and the tracking page says it was delivered to a neighbour"


@pytest.fixture
def cli_env(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> int:
    """One open item: Ada asked for a person, then wrote a long message."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", committed_db.url)
    # An 80-column terminal (piped output is as wide as it needs to be: bot.cli.support).
    monkeypatch.setattr("bot.cli.inbox.out", Console(width=80, highlight=False))
    with committed_db.session() as session:
        add_agent(session, "bea", "a long enough password", now=utcnow())
        add_agent(session, "cy", "a long enough password", now=utcnow())
        ada = f.customer(session, "Ada Lovelace", phone="+14155550161")
        item_id = 0
        for n, (text, kind) in enumerate(
            [("agent please", InboxKind.HUMAN_REQUESTED), (LONG, InboxKind.HANDED_OFF)]
        ):
            item_id = _file(session, ada, n, text, kind)
    return item_id


def _file(session: object, who: Customer, n: int, text: str, kind: InboxKind) -> int:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    message = InboundMessage(
        channel=Channel.SMS, provider_id=f"SM{n}", sender=who.phone or "", body=text,
        customer_id=who.id, received_at=utcnow(), handled_at=utcnow(),
    )  # fmt: skip
    session.add(message)
    session.flush()
    return inbox.file_message(
        session, inbound_id=message.id, kind=kind, channel=Channel.SMS,
        sender=who.phone or "", customer=who, now=utcnow(),
    )  # fmt: skip


def _run(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_list_shows_open_items_whole_in_80_columns(cli_env: int) -> None:
    result = _run("inbox", "list")
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    flat = " ".join(result.stdout.split()).replace("│", "").replace("  ", " ")
    assert "Ada Lovelace" in result.stdout
    assert "human requested" in result.stdout
    assert "…" not in result.stdout  # folded onto more lines, never cut
    assert "tracking" in flat
    data = json.loads(_run("inbox", "list", "--json").stdout)
    assert [(i["id"], i["message_count"], i["last_text"]) for i in data["items"]] == [
        (cli_env, 2, LONG)
    ]
    assert data["counts"]["open"] == 1


def test_show_lists_every_message_of_the_item(cli_env: int) -> None:
    shown = json.loads(_run("inbox", "show", str(cli_env), "--json").stdout)
    assert [m["text"] for m in shown["messages"]] == ["agent please", LONG]
    text = _run("inbox", "show", str(cli_env))
    assert "agent please" in text.stdout
    assert max(len(line) for line in text.stdout.splitlines()) <= 80
    missing = _run("inbox", "show", "999999")
    assert missing.exit_code != 0
    assert "does not exist" in missing.output


def test_assign_needs_take_over_and_close_is_audited_once(
    cli_env: int, committed_db: Database
) -> None:
    item = str(cli_env)
    assert _run("inbox", "assign", item, "--to", "bea").exit_code == 0
    held = _run("inbox", "assign", item, "--to", "cy")
    assert held.exit_code != 0
    assert "assigned to bea" in held.output
    assert _run("inbox", "assign", item, "--to", "nobody").exit_code != 0
    taken = json.loads(_run("inbox", "assign", item, "--to", "cy", "--take-over", "--json").stdout)
    assert taken["assigned_to"] == "cy"
    closed = json.loads(_run("inbox", "close", item, "--as", "cy", "--json").stdout)
    assert closed["closed_by"] == "cy"
    assert _run("inbox", "close", item).exit_code == 0  # again: nothing changes
    assert json.loads(_run("inbox", "list", "--json").stdout)["items"] == []
    with committed_db.read_session() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        customer = session.scalars(select(Customer)).one()
    assert [a for a in actions if a.startswith("inbox.")] == [
        "inbox.assign",
        "inbox.assign",
        "inbox.close",
    ]
    assert customer.handed_off_at is None  # the bot answers Ada again
