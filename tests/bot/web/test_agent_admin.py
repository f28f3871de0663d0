"""Agent admin (issue 13): admins add, disable, enable and reset agents in the dashboard; any
other agent gets 403 and changes nothing; a disabled or reset agent's sessions stop at once;
every change is audited. Plus the outbox and audit-log views, filtered and paged."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli.main import app as cli
from bot.settings import Settings
from bot.web import create_app
from store import audit
from store.agents import add_agent
from store.db import Database
from store.models import Agent, AuditEntry, Channel, OutboxMessage, OutboxStatus, utcnow
from tests import factories as f
from tests.bot.web.conftest import twilio_settings
from tests.bot.web.test_agent_dashboard import PASSWORD, client_for, csrf_of, sign_in

pytestmark = pytest.mark.asyncio
NEW_PASSWORD = "a brand new password"


@pytest.fixture
def shop(committed_db: Database) -> Database:
    with committed_db.session() as session:
        add_agent(session, "boss", PASSWORD, now=utcnow(), is_admin=True)
        add_agent(session, "ada", PASSWORD, now=utcnow())
    return committed_db


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shop: Database) -> FastAPI:
    monkeypatch.chdir(tmp_path)
    settings: Settings = twilio_settings(default_phone_region="US")
    return create_app(settings, shop)


@pytest_asyncio.fixture
async def boss(web: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(web) as client:
        assert (await sign_in(client, "boss")).status_code == 303
        yield client


@pytest_asyncio.fixture
async def ada(web: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(web) as client:
        assert (await sign_in(client, "ada")).status_code == 303
        yield client


async def _post(client: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    csrf = csrf_of((await client.get("/agent")).text)
    return await client.post(path, data={"csrf": csrf, "confirmed": "yes", **fields})


def _agents(db: Database) -> dict[str, Agent]:
    with db.read_session() as session:
        return {a.username: a for a in session.scalars(select(Agent))}


def _actions(db: Database) -> list[tuple[str, str, str | None]]:
    with db.read_session() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.actor, e.action, e.subject) for e in rows]


async def test_a_non_admin_gets_403_and_changes_nothing(
    ada: httpx.AsyncClient, shop: Database
) -> None:
    assert (await ada.get("/agent/agents")).status_code == 403
    assert 'href="/agent/agents"' not in (await ada.get("/agent")).text
    before = _actions(shop)
    added = await _post(ada, "/agent/agents", username="mallory", password=NEW_PASSWORD)
    disabled = await _post(ada, "/agent/agents/boss/disable")
    reset = await _post(ada, "/agent/agents/boss/reset", password=NEW_PASSWORD)
    assert [r.status_code for r in (added, disabled, reset)] == [403, 403, 403]
    assert set(_agents(shop)) == {"boss", "ada"}
    assert not _agents(shop)["boss"].disabled
    assert _actions(shop) == before


async def test_a_refusal_in_the_dashboard_is_a_page_not_raw_json(ada: httpx.AsyncClient) -> None:
    # An agent who follows a link to an admin page reads why, on a page with a way back.
    response = await ada.get("/agent/agents")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "only admins manage agents" in response.text
    assert 'href="/agent"' in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_an_admin_adds_an_agent_who_can_sign_in(
    boss: httpx.AsyncClient, web: FastAPI, shop: Database
) -> None:
    response = await _post(boss, "/agent/agents", username="Cy", password=NEW_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/agent/agents?done=added&agent=cy"
    assert "cy is added." in (await boss.get(response.headers["location"])).text
    assert ("boss", "agent.added", "agent:cy") in _actions(shop)
    async with client_for(web) as cy:
        assert (await sign_in(cy, "cy", NEW_PASSWORD)).status_code == 303


async def test_a_bad_new_agent_is_refused_with_the_reason_and_the_name_kept(
    boss: httpx.AsyncClient, shop: Database
) -> None:
    response = await _post(boss, "/agent/agents", username="cy", password="short")
    assert response.status_code == 303  # post, redirect, get: Reload never posts it again
    page = (await boss.get(response.headers["location"])).text
    assert "a password needs at least 10 characters" in page
    assert 'value="cy"' in page
    assert "short" not in page  # a password is never kept
    taken = await _post(boss, "/agent/agents", username="ada", password=NEW_PASSWORD)
    assert "agent ada already exists" in (await boss.get(taken.headers["location"])).text
    assert set(_agents(shop)) == {"boss", "ada"}


async def test_disabling_an_agent_ends_their_session_at_once(
    boss: httpx.AsyncClient, ada: httpx.AsyncClient, shop: Database
) -> None:
    assert (await ada.get("/agent")).status_code == 200
    response = await _post(boss, "/agent/agents/ada/disable")
    assert response.headers["location"] == "/agent/agents?done=disabled&agent=ada"
    after = await ada.get("/agent")
    assert after.status_code == 303
    assert after.headers["location"].endswith("/agent/login")
    assert ("boss", "agent.disabled", "agent:ada") in _actions(shop)
    await _post(boss, "/agent/agents/ada/enable")
    assert not _agents(shop)["ada"].disabled


async def test_a_reset_gives_a_new_password_and_ends_the_old_sessions(
    boss: httpx.AsyncClient, ada: httpx.AsyncClient, web: FastAPI, shop: Database
) -> None:
    response = await _post(boss, "/agent/agents/ada/reset", password=NEW_PASSWORD)
    assert response.headers["location"] == "/agent/agents?done=reset&agent=ada"
    assert (await ada.get("/agent")).status_code == 303
    async with client_for(web) as again:
        assert (await sign_in(again, "ada", PASSWORD)).status_code == 401
        assert (await sign_in(again, "ada", NEW_PASSWORD)).status_code == 303
    assert ("boss", "agent.password_reset", "agent:ada") in _actions(shop)


async def test_the_last_admin_cannot_be_disabled_or_demoted(
    boss: httpx.AsyncClient, shop: Database
) -> None:
    with shop.session() as session:
        add_agent(session, "second", PASSWORD, now=utcnow(), is_admin=True)
    await _post(boss, "/agent/agents/second/disable")
    refused = await _post(boss, "/agent/agents/boss/remove-admin")
    assert refused.status_code == 303
    assert "boss is the last admin" in (await boss.get(refused.headers["location"])).text
    assert _agents(shop)["boss"].is_admin


async def test_an_unknown_agent_or_change_is_refused(boss: httpx.AsyncClient) -> None:
    missing = await _post(boss, "/agent/agents/nobody/disable")
    assert missing.status_code == 303
    assert "agent nobody does not exist" in (await boss.get(missing.headers["location"])).text
    assert (await _post(boss, "/agent/agents/ada/explode")).status_code == 404


async def test_the_outbox_view_filters_and_pages(ada: httpx.AsyncClient, shop: Database) -> None:
    now = utcnow()
    with shop.session() as session:
        one = f.customer(session, "One")
        two = f.customer(session, "Two")
        for i in range(60):
            session.add(
                OutboxMessage(
                    dedupe_key=f"t:{i}",
                    customer_id=one.id if i % 2 else two.id,
                    channel=Channel.SMS if i % 3 else Channel.TELEGRAM,
                    address="x",
                    message=f"msg_{i:02d}",
                    locale="en",
                    body="hello",
                    status=OutboxStatus.FAILED if i < 10 else OutboxStatus.SENT,
                    created_at=now - dt.timedelta(days=60 - i),
                )
            )
    failed = (await ada.get("/agent/outbox", params={"status": "failed"})).text
    assert failed.count("<tr>") == 1 + 10  # the header row and the ten failed ones
    mine = (await ada.get("/agent/outbox", params={"customer": str(one.id), "channel": "sms"})).text
    assert "msg_01" in mine
    assert "msg_02" not in mine  # customer two
    assert "msg_03" not in mine  # Telegram
    first = (await ada.get("/agent/outbox")).text
    assert "msg_59" in first
    assert "msg_09" not in first  # beyond the first page of 50
    assert "before=" in first
    start = (now - dt.timedelta(days=3)).date().isoformat()
    recent = (await ada.get("/agent/outbox", params={"from": start})).text
    assert "msg_59" in recent
    assert "msg_50" not in recent
    bad = await ada.get("/agent/outbox", params={"from": "12/31/2026", "customer": "x"})
    assert bad.status_code == 200
    assert "a date such as 2026-12-31" in bad.text
    assert "a whole number, such as 42" in bad.text


async def test_the_audit_view_filters_by_agent_action_and_customer(
    ada: httpx.AsyncClient, shop: Database
) -> None:
    with shop.session() as session:
        audit.record(session, "ada", "customer.offer_choice", subject="customer:7", now=utcnow())
        audit.record(session, "boss", "customer.link_revoked", subject="customer:8", now=utcnow())
    page = (await ada.get("/agent/audit", params={"agent": "ada"})).text
    assert "<code>customer.offer_choice</code>" in page
    assert "<code>customer.link_revoked</code>" not in page
    by_customer = (await ada.get("/agent/audit", params={"customer": "8"})).text
    assert 'href="/agent/customers/8"' in by_customer
    assert "<code>customer.offer_choice</code>" not in by_customer
    by_action = (await ada.get("/agent/audit", params={"action": "agent.added"})).text
    assert by_action.count("<code>agent.added</code>") == 2


async def test_the_cli_creates_an_admin(
    shop: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", shop.url)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["agents", "create", "root", "--admin", "--password-stdin"], input=NEW_PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "admin root added" in result.stdout
    listed = json.loads(runner.invoke(cli, ["agents", "list", "--json"]).stdout)
    assert [(a["username"], a["admin"]) for a in listed if a["username"] == "root"] == [
        ("root", True)
    ]
