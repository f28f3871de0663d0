"""The dashboard's inbox and reply form over HTTP: signed-in only, CSRF-checked, post-redirect-
get, a double-clicked Send queues one message, ``back`` never leaves the dashboard."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot import inbound as inbound_service
from bot.conversation import Incoming
from bot.inbound import Received
from bot.settings import Settings
from bot.web import create_app
from store.agents import add_agent
from store.db import Database
from store.models import AuditEntry, Channel, OutboxMessage, utcnow
from store.tables_inbox import InboxItem
from tests import factories as f
from tests.bot.web.conftest import twilio_settings
from tests.bot.web.test_agent_dashboard import PASSWORD, client_for, csrf_of, sign_in

pytestmark = pytest.mark.asyncio

PHONE = "+14155550181"
_KEY = re.compile(r'name="key" value="([^"]+)"')


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)
    return twilio_settings(default_phone_region="US")


@pytest.fixture
def waiting(committed_db: Database, settings: Settings) -> dict[str, int]:
    """Ada asked for a person by SMS."""
    with committed_db.session() as session:
        add_agent(session, "ada", PASSWORD, now=utcnow())
        customer = f.customer(session, "Ada Lovelace", phone=PHONE)
        customer_id = customer.id
    received = Received(Channel.SMS, "SM-agent-inbox", PHONE, Incoming(text="agent please"))
    inbound_service.from_settings(settings, committed_db).handle(received)
    with committed_db.read_session() as session:
        item_id = session.scalars(select(InboxItem.id)).one()
    return {"customer": customer_id, "item": item_id}


@pytest_asyncio.fixture
async def agent(
    settings: Settings, committed_db: Database, waiting: dict[str, int]
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(settings, committed_db)) as client:
        assert (await sign_in(client)).status_code == 303
        yield client


async def test_the_inbox_needs_a_signed_in_agent(
    settings: Settings, committed_db: Database, waiting: dict[str, int]
) -> None:
    async with client_for(create_app(settings, committed_db)) as client:
        response = await client.get("/agent/inbox")
    assert response.status_code == 303
    assert response.headers["location"].endswith("/agent/login")


async def test_every_page_shows_the_open_count(agent: httpx.AsyncClient) -> None:
    for path in ("/agent", "/agent/search", "/agent/inbox"):
        page = (await agent.get(path)).text
        assert '<span class="badge" title="open items">1</span>' in page, path


async def test_closing_without_the_csrf_token_changes_nothing(
    agent: httpx.AsyncClient, waiting: dict[str, int], committed_db: Database
) -> None:
    response = await agent.post(f"/agent/inbox/{waiting['item']}/close", data={})
    # The form is kept for the agent (see test_dashboard_fixes) and sent back; nothing is done.
    assert response.status_code == 303
    assert "done=" not in response.headers["location"]
    with committed_db.read_session() as session:
        item = session.get(InboxItem, waiting["item"])
        assert item is not None
        assert item.closed_at is None


async def test_close_redirects_back_within_the_dashboard_only(
    agent: httpx.AsyncClient, waiting: dict[str, int]
) -> None:
    csrf = csrf_of((await agent.get("/agent/inbox")).text)
    data = {"csrf": csrf, "back": "https://evil.example/agent/", "confirmed": "yes"}
    response = await agent.post(f"/agent/inbox/{waiting['item']}/close", data=data)
    assert response.status_code == 303
    assert response.headers["location"] == "/agent/inbox?done=closed"
    page = (await agent.get(response.headers["location"])).text
    assert "Closed." in page
    assert "nobody is waiting for a person" in page
    missing = await agent.post("/agent/inbox/987654/close", data={"csrf": csrf, "confirmed": "yes"})
    assert missing.status_code == 404


async def test_a_double_clicked_send_queues_one_reply(
    agent: httpx.AsyncClient, waiting: dict[str, int], committed_db: Database
) -> None:
    path = f"/agent/customers/{waiting['customer']}"
    page = (await agent.get(path)).text
    assert "Waiting for a person." in page
    form = {"csrf": csrf_of(page), "text": "Hello Ada, Bea here.", "channel": ""}
    found = _KEY.search(page)
    assert found is not None
    form["key"] = found.group(1)
    preview = await agent.post(path + "/reply", data={**form, "action": "preview"})
    # Post, redirect, get: Back or Reload on the preview never asks to resubmit the form.
    assert preview.status_code == 303
    assert preview.headers["location"] == path + "#reply"
    for _ in range(2):  # the preview, and a Reload of it
        shown = (await agent.get(preview.headers["location"])).text
        assert "1 SMS segment" in shown
        assert "Hello Ada, Bea here.</textarea>" in shown
    assert _count(committed_db) == 0  # a preview sends nothing
    first = await agent.post(path + "/reply", data={**form, "action": "send"})
    second = await agent.post(path + "/reply", data={**form, "action": "send"})
    assert first.headers["location"].endswith("?done=reply_sent#reply")
    assert second.headers["location"].endswith("?done=reply_repeated#reply")
    assert _count(committed_db) == 1
    with committed_db.read_session() as session:
        actors = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "customer.reply")
        ).all()
    assert actors == ["ada"]


async def test_an_empty_reply_is_a_form_error_shown_after_a_redirect(
    agent: httpx.AsyncClient, waiting: dict[str, int], committed_db: Database
) -> None:
    # Post, redirect, get: Back or Reload on the page never posts the form again.
    path = f"/agent/customers/{waiting['customer']}"
    csrf = csrf_of((await agent.get(path)).text)
    response = await agent.post(
        path + "/reply", data={"csrf": csrf, "text": "  ", "action": "send"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == path + "#reply"
    shown = await agent.get(response.headers["location"])
    assert "write something to send" in shown.text
    assert "write something to send" in (await agent.get(path)).text  # a Reload keeps it
    csrf = csrf_of(shown.text)
    sent = await agent.post(path + "/reply", data={"csrf": csrf, "text": "Hi", "action": "send"})
    assert "done=reply_sent" in sent.headers["location"]
    assert "write something to send" not in (await agent.get(path)).text  # went through
    assert _count(committed_db) == 1


async def test_a_refused_reply_keeps_the_agents_text(
    agent: httpx.AsyncClient, waiting: dict[str, int], committed_db: Database
) -> None:
    path = f"/agent/customers/{waiting['customer']}"
    csrf = csrf_of((await agent.get(path)).text)
    text = "Your pan ships Monday & the oven next week"
    data = {"csrf": csrf, "text": text, "channel": "telegram", "action": "send"}
    response = await agent.post(path + "/reply", data=data)
    assert response.status_code == 303
    shown = (await agent.get(response.headers["location"])).text
    assert "Your pan ships Monday &amp; the oven next week</textarea>" in shown
    assert 'role="alert"' in shown
    assert _count(committed_db) == 0


def _count(db: Database) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
