"""``backorder-bot suppliers ask|list|not-answering|revoke``."""

import json

from sqlalchemy import func, select

from store.db import Database
from store.models import Channel, OutboxMessage
from tests.bot.test_cli import _run, cli_env  # noqa: F401 (fixture)
from tests.bot.web.supplier_scenarios import SUPPLIER, SUPPLIER_EMAIL, owed_backorders


def _emails(db: Database) -> int:
    with db.read_session() as session:
        query = select(func.count()).where(OutboxMessage.channel == Channel.EMAIL)
        return session.scalar(query) or 0


def test_ask_queues_one_email_per_supplier_and_not_again(cli_env: Database) -> None:  # noqa: F811
    owed_backorders(cli_env, skus=("KETTLE", "TEAPOT"))
    asked = _run("suppliers", "ask", "--json")
    assert asked.exit_code == 0, asked.output
    summary = json.loads(asked.stdout)
    assert summary["asked"] == [{"supplier": SUPPLIER, "skus": ["KETTLE", "TEAPOT"]}]
    assert _emails(cli_env) == 1
    again = _run("suppliers", "ask")
    assert "0 supplier request(s) queued" in again.output
    assert _emails(cli_env) == 1

    (listed,) = json.loads(_run("suppliers", "list", "--json").stdout)
    assert listed["email"] == SUPPLIER_EMAIL
    request_id = listed["open_request"]["id"]
    assert _run("suppliers", "revoke", str(request_id)).exit_code == 0
    assert _run("suppliers", "revoke", str(request_id)).exit_code == 1
    assert json.loads(_run("suppliers", "not-answering", "--json").stdout) == []
