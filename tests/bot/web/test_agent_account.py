"""An agent changes their own password (the current one required; every other session ends,
this browser stays signed in), and admins issue and revoke agents' API tokens on the
dashboard (shown once, audited, revoking asks first). Refusals are post-redirect-get."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from store import api_tokens
from store.db import Database
from store.models import AuditEntry, utcnow
from tests.bot.web.test_agent_admin import (  # noqa: F401  (fixtures)
    NEW_PASSWORD,
    _post,
    ada,
    boss,
    shop,
    web,
)
from tests.bot.web.test_agent_dashboard import PASSWORD, client_for, csrf_of, sign_in

pytestmark = pytest.mark.asyncio


async def _change(client: httpx.AsyncClient, current: str, new: str, again: str) -> httpx.Response:
    return await _post(client, "/agent/account/password", current=current, new=new, again=again)


async def test_an_agent_changes_their_password_and_their_other_sessions_end(
    ada: httpx.AsyncClient,  # noqa: F811
    web: FastAPI,  # noqa: F811
    shop: Database,  # noqa: F811
) -> None:
    async with client_for(web) as other_browser:
        assert (await sign_in(other_browser, "ada")).status_code == 303
        response = await _change(ada, PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
        assert response.status_code == 303
        assert response.headers["location"] == "/agent/account?done=password"
        page = await ada.get(response.headers["location"])
        assert page.status_code == 200  # this browser carries on, signed in afresh
        assert "Your password is changed" in page.text
        assert (await other_browser.get("/agent")).status_code == 303  # signed out
    async with client_for(web) as again:
        assert (await sign_in(again, "ada", PASSWORD)).status_code == 401
        assert (await sign_in(again, "ada", NEW_PASSWORD)).status_code == 303
    with shop.read_session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "agent.password_changed")
        )
        assert [(e.actor, e.subject) for e in entries] == [("ada", "agent:ada")]


@pytest.mark.parametrize(
    ("current", "new", "again", "why"),
    [
        ("not my password", NEW_PASSWORD, NEW_PASSWORD, "the current password is not right"),
        (PASSWORD, "short", "short", "at least 10 characters"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "the two new passwords differ"),
        (PASSWORD, PASSWORD, PASSWORD, "the new password is the current one"),
    ],
)
async def test_a_refused_change_redirects_with_the_reason_and_changes_nothing(
    ada: httpx.AsyncClient,  # noqa: F811
    web: FastAPI,  # noqa: F811
    current: str,
    new: str,
    again: str,
    why: str,
) -> None:
    response = await _change(ada, current, new, again)
    assert response.status_code == 303  # Back or Reload never posts the passwords again
    assert response.headers["location"] == "/agent/account"
    page = (await ada.get("/agent/account")).text
    assert why in page
    assert current not in page
    assert new not in page
    async with client_for(web) as fresh:
        assert (await sign_in(fresh, "ada", PASSWORD)).status_code == 303


async def test_an_admin_issues_a_token_shown_once_and_revokes_it_after_confirming(
    boss: httpx.AsyncClient,  # noqa: F811
    ada: httpx.AsyncClient,  # noqa: F811
    shop: Database,  # noqa: F811
) -> None:
    assert (await ada.get("/agent/api-tokens")).status_code == 403
    issued = await _post(boss, "/agent/api-tokens", agent="ada", label="helpdesk")
    assert issued.status_code == 303
    assert "bbt_" not in issued.headers["location"]
    page = (await boss.get("/agent/api-tokens")).text
    found = re.search(r'<code class="token">(bbt_[A-Za-z0-9_-]+)</code>', page)
    assert found is not None
    token = found.group(1)
    assert token not in (await boss.get("/agent/api-tokens")).text  # shown once
    with shop.session() as session:
        assert api_tokens.verify(session, token, now=utcnow()) == "ada"
        [view] = api_tokens.list_tokens(session)
    path = f"/agent/api-tokens/{view.id}/revoke"
    csrf = csrf_of((await boss.get("/agent")).text)
    asked = await boss.post(path, data={"csrf": csrf})  # the list's Revoke button
    assert asked.headers["location"].startswith("/agent/confirm?")
    with shop.session() as session:
        assert api_tokens.verify(session, token, now=utcnow()) == "ada"  # not yet
    done = await _post(boss, path, confirmed="yes")
    assert done.headers["location"] == "/agent/api-tokens?done=revoked"
    with shop.session() as session:
        assert api_tokens.verify(session, token, now=utcnow()) is None


async def test_a_token_without_a_label_is_refused_with_the_agent_kept(
    boss: httpx.AsyncClient,  # noqa: F811
) -> None:
    refused = await _post(boss, "/agent/api-tokens", agent="ada", label="   ")
    assert refused.headers["location"] == "/agent/api-tokens"
    page = (await boss.get("/agent/api-tokens")).text
    assert "name the token" in page
    assert '<option value="ada" selected>' in page
