"""The JSON API for acting for a customer, and the outbox and audit lists: the token is
needed, someone else's id is 404 and changes nothing, each action is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.web import create_app
from store import api_tokens
from store.agents import set_disabled
from store.db import Database
from store.models import (
    AuditEntry,
    Offer,
    OfferStatus,
    OrderPageLink,
    OutboxMessage,
    OutboxStatus,
    Refund,
    Shipment,
    utcnow,
)
from tests.bot.web.conftest import client_for, twilio_settings
from tests.bot.web.test_agent_actions import build_shop

pytestmark = pytest.mark.asyncio
API_TOKEN = "agent-token-for-acting-tests-0123456"


@pytest.fixture
def shop(committed_db: Database) -> dict[str, int]:
    return build_shop(committed_db)


@pytest_asyncio.fixture
async def api(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.chdir(tmp_path)
    settings = twilio_settings(agent_api_token=API_TOKEN, default_phone_region="US")
    async with client_for(create_app(settings, committed_db)) as client:
        client.headers["Authorization"] = f"Bearer {API_TOKEN}"
        yield client


def _paths(ids: dict[str, int]) -> list[tuple[str, dict[str, str]]]:
    ada = ids["ada"]
    return [
        (f"/api/customers/{ada}/offers/{ids['ada_offer']}/choice", {"choice": "wait"}),
        (f"/api/customers/{ada}/lines/{ids['pan_line']}/cancel", {}),
        (f"/api/customers/{ada}/lines/{ids['pan_line']}/ship", {}),
        (f"/api/customers/{ada}/orders/A-7/link/revoke", {}),
        (f"/api/customers/{ada}/orders/A-7/link/resend", {}),
        (f"/api/customers/{ada}/outbox/{ids['failed']}/retry", {}),
    ]


def _audited(db: Database) -> list[tuple[str, str, str | None]]:
    with db.read_session() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.actor, e.action, e.subject) for e in rows if e.action.startswith("customer.")]


@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_every_action_needs_the_token(
    api: httpx.AsyncClient, committed_db: Database, shop: dict[str, int], token: str | None
) -> None:
    del api.headers["Authorization"]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for path, body in _paths(shop):
        response = await api.post(path, json=body, headers=headers)
        assert response.status_code == 401, path
    for path in ("/api/outbox", "/api/audit"):
        assert (await api.get(path, headers=headers)).status_code == 401
    assert _audited(committed_db) == []


async def test_someone_elses_ids_are_404_and_change_nothing(
    api: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    bob = shop["bob"]
    for path, body in _paths(shop):
        response = await api.post(
            path.replace(f"/customers/{shop['ada']}/", f"/customers/{bob}/"), json=body
        )
        assert response.status_code == 404, path
    with committed_db.read_session() as session:
        assert session.scalars(select(Refund)).first() is None
        assert session.scalars(select(Shipment)).first() is None
        assert session.scalars(select(OrderPageLink)).one().revoked_at is None
        assert len(session.scalars(select(OutboxMessage)).all()) == 1  # no link sent
        assert session.get(OutboxMessage, shop["failed"]).status == OutboxStatus.FAILED  # type: ignore[union-attr]
    assert _audited(committed_db) == []


def _token_of(db: Database, username: str) -> str:
    with db.session() as session:
        return api_tokens.issue(session, username, "helpdesk", now=utcnow(), actor="boss").token


async def test_an_agents_own_token_audits_the_action_under_their_verified_name(
    api: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    path = f"/api/customers/{shop['ada']}/offers/{shop['ada_offer']}/choice"
    mine = {"Authorization": f"Bearer {_token_of(committed_db, 'ada')}"}
    response = await api.post(path, json={"choice": "switch"}, headers=mine)
    assert response.status_code == 200
    assert response.json()["outcome"] == "done"
    again = await api.post(path, json={"choice": "wait"})  # the shop's token
    assert again.json()["outcome"] == "already_decided"
    with committed_db.read_session() as session:
        offer = session.get(Offer, shop["ada_offer"])
        assert offer is not None
        assert (offer.status, offer.decided_via) == (OfferStatus.ACCEPTED, "agent")
    subject = f"customer:{shop['ada']}"
    assert _audited(committed_db) == [
        ("ada", "customer.offer_choice", subject),
        ("api", "customer.offer_choice", subject),
    ]


async def test_an_x_agent_header_names_nobody_it_is_refused_and_changes_nothing(
    api: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    # Anyone holding the shop's token could write any name into the audit log with it.
    path = f"/api/customers/{shop['ada']}/offers/{shop['ada_offer']}/choice"
    response = await api.post(path, json={"choice": "switch"}, headers={"X-Agent": "ada"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "X-Agent"]
    assert "own API token" in response.text
    assert _audited(committed_db) == []


async def test_a_revoked_token_or_a_disabled_agents_token_is_401(
    api: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    path = f"/api/customers/{shop['ada']}/outbox/{shop['failed']}/retry"
    token = _token_of(committed_db, "ada")
    with committed_db.session() as session:
        [view] = api_tokens.list_tokens(session, "ada")
        api_tokens.revoke(session, view.id, now=utcnow(), actor="boss")
    revoked = await api.post(path, headers={"Authorization": f"Bearer {token}"})
    other = _token_of(committed_db, "ada")
    with committed_db.session() as session:
        set_disabled(session, "ada", True, now=utcnow(), actor="boss")
    disabled = await api.post(path, headers={"Authorization": f"Bearer {other}"})
    assert [revoked.status_code, disabled.status_code] == [401, 401]
    assert _audited(committed_db) == []


async def test_bad_input_is_422_with_the_field(
    api: httpx.AsyncClient, shop: dict[str, int]
) -> None:
    path = f"/api/customers/{shop['ada']}/offers/{shop['ada_offer']}/choice"
    assert (await api.post(path, json={"choice": "maybe"})).status_code == 422
    shipped = await api.post(
        f"/api/customers/{shop['ada']}/lines/{shop['oven_line']}/ship", json={}
    )
    assert shipped.status_code == 422
    assert "reserved" in shipped.text
    outbox = await api.get("/api/outbox", params={"from": "yesterday"})
    assert outbox.status_code == 422
    assert outbox.json()["detail"][0]["loc"] == ["query", "from"]


async def test_shipping_with_the_same_key_ships_once(
    api: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    path = f"/api/customers/{shop['ada']}/lines/{shop['pan_line']}/ship"
    body = {"idempotency_key": "pan-1", "carrier": "UPS", "tracking": "1Z999"}
    first = (await api.post(path, json=body)).json()
    second = (await api.post(path, json=body)).json()
    assert (first["outcome"], second["outcome"]) == ("done", "unchanged")
    assert first["detail"]["shipment_id"] == second["detail"]["shipment_id"]
    with committed_db.read_session() as session:
        assert len(session.scalars(select(Shipment)).all()) == 1


async def test_the_outbox_and_audit_lists_filter(
    api: httpx.AsyncClient, shop: dict[str, int]
) -> None:
    await api.post(f"/api/customers/{shop['ada']}/outbox/{shop['failed']}/retry")
    pending = (await api.get("/api/outbox", params={"status": "pending"})).json()
    assert [r["id"] for r in pending["rows"]] == [shop["failed"]]
    assert (await api.get("/api/outbox", params={"status": "failed"})).json()["rows"] == []
    audit = (await api.get("/api/audit", params={"customer": str(shop["ada"])})).json()
    assert [r["action"] for r in audit["rows"]] == ["customer.message_retried"]
    assert audit["rows"][0]["details"]["outbox_id"] == shop["failed"]


async def test_the_link_is_resent_through_the_outbox(
    api: httpx.AsyncClient, committed_db: Database, shop: dict[str, int]
) -> None:
    response = await api.post(f"/api/customers/{shop['ada']}/orders/A-7/link/resend")
    assert response.status_code == 200
    assert response.json()["detail"] == {"order_number": "A-7", "channel": "sms"}
    with committed_db.read_session() as session:
        query = select(OutboxMessage).where(OutboxMessage.message == "order_link_resent")
        assert "/o/" in session.scalars(query).one().body
