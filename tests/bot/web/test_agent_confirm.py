"""Danger buttons ask first, without JavaScript: the first post only redirects to a confirm
page (nothing changes), its "Yes" form posts again with ``confirmed=yes``, and a double-clicked
"Yes" acts once. The confirm page posts and sends back only within the dashboard."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from store.db import Database
from store.models import AuditEntry, LineStatus, OrderLine, Refund
from tests.bot.web.test_agent_actions import agent, settings, shop  # noqa: F401  (fixtures)
from tests.bot.web.test_agent_dashboard import csrf_of

pytestmark = pytest.mark.asyncio


def _form(page: str) -> tuple[str, dict[str, str]]:
    """The confirm page's "Yes" form: where it posts, and its fields."""
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action is not None, page
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return html.unescape(action.group(1)), {k: html.unescape(v) for k, v in fields.items()}


async def test_cancelling_a_line_asks_first_and_a_double_yes_cancels_once(
    agent: httpx.AsyncClient,  # noqa: F811
    committed_db: Database,
    shop: dict[str, int],  # noqa: F811
) -> None:
    path = f"/agent/customers/{shop['ada']}/lines/{shop['pan_line']}/cancel"
    csrf = csrf_of((await agent.get(f"/agent/customers/{shop['ada']}")).text)
    asked = await agent.post(path, data={"csrf": csrf})
    assert asked.status_code == 303
    assert urlsplit(asked.headers["location"]).path == "/agent/confirm"
    with committed_db.read_session() as session:
        line = session.get(OrderLine, shop["pan_line"])
        assert line is not None
        assert line.status is not LineStatus.CANCELLED  # asking did nothing
    page = await agent.get(asked.headers["location"])
    assert page.status_code == 200
    assert "Cancel this line?" in page.text
    assert f'href="/agent/customers/{shop["ada"]}"' in page.text  # "No, go back"
    target, fields = _form(page.text)
    assert target == path
    assert fields["confirmed"] == "yes"
    first = await agent.post(target, data=fields)
    second = await agent.post(target, data=fields)  # the double click
    assert "line_cancelled:done" in first.headers["location"]
    assert "line_cancelled:unchanged" in second.headers["location"]
    assert "already cancelled" in (await agent.get(second.headers["location"])).text
    with committed_db.read_session() as session:
        assert len(session.scalars(select(Refund)).all()) == 1
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customer.line_cancelled")
        ).all()
    assert len(audited) == 1


async def test_a_cancel_choice_asks_first_but_wait_does_not(
    agent: httpx.AsyncClient,  # noqa: F811
    shop: dict[str, int],  # noqa: F811
) -> None:
    path = f"/agent/customers/{shop['ada']}/offers/{shop['ada_offer']}/choice"
    csrf = csrf_of((await agent.get(f"/agent/customers/{shop['ada']}")).text)
    asked = await agent.post(path, data={"csrf": csrf, "choice": "cancel"})
    assert urlsplit(asked.headers["location"]).path == "/agent/confirm"
    target, fields = _form((await agent.get(asked.headers["location"])).text)
    assert (target, fields["choice"]) == (path, "cancel")  # the choice is carried over
    waited = await agent.post(path, data={"csrf": csrf, "choice": "wait"})
    assert "offer_choice:done" in waited.headers["location"]


@pytest.mark.parametrize(
    "query",
    [
        "do=https://evil.example/agent/x&what=cancel_line&back=/agent",
        "do=/agent/x&what=cancel_line&back=//evil.example/agent",
        "do=/agent/../webhooks/x&what=cancel_line&back=/agent",
        "do=/agent/x&what=drop_tables&back=/agent",
    ],
)
async def test_the_confirm_page_stays_within_the_dashboard(
    agent: httpx.AsyncClient,  # noqa: F811
    query: str,
) -> None:
    assert (await agent.get(f"/agent/confirm?{query}")).status_code == 404
