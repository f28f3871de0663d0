"""The inbox, hand-off and replies by hand, through the signed SMS webhook and ``/api``.

Promises (issue 13): what the bot cannot deal with is in the inbox, written with the message;
asking for a person is answered "a person will answer" in the customer's language and the bot
stays quiet until an agent closes the conversation, STOP/START/HELP still working; a reply by
hand goes through the outbox, refused on an opted-out channel, urgent only as an answer; the
inbox API refuses a bad token, an unknown id and someone else's item.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

import store.inbox
from bot.web import create_app
from store import api_tokens
from store.agents import add_agent
from store.db import Database
from store.models import AuditEntry, Customer, InboundMessage, OutboxMessage, ReachState, utcnow
from store.tables_inbox import AgentReply, InboxItem, InboxMessage
from tests import factories as f
from tests.bot.web.conftest import FORM, PUBLIC_BASE_URL, client_for, sign, twilio_settings

pytestmark = pytest.mark.asyncio

API_TOKEN = "agent-token-for-inbox-tests-0123456"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
PATH = "/webhooks/twilio/sms"
ADA = "+14155550161"
PILAR = "+34612345699"


@pytest.fixture
def people(committed_db: Database) -> dict[str, int]:
    """Ada (English) and Pilar (Spanish), each with an open order."""
    with committed_db.session() as session:
        f.product(session, "MUG", stock=10)
        ada = f.customer(session, "Ada Lovelace", phone=ADA)
        pilar = f.customer(session, "Pilar Ruiz", phone=PILAR)
        pilar.locale = "es"
        f.order(session, "A-1", [("MUG", 1)], who=ada, placed_at=utcnow())
        f.order(session, "P-1", [("MUG", 1)], who=pilar, placed_at=utcnow())
        return {"ada": ada.id, "pilar": pilar.id}


@pytest_asyncio.fixture
async def client(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.chdir(tmp_path)
    settings = twilio_settings(agent_api_token=API_TOKEN, default_phone_region="US")
    async with client_for(create_app(settings, committed_db)) as c:
        yield c


async def text(client: httpx.AsyncClient, body: str, sender: str = ADA) -> str | None:
    """Send an SMS as Twilio would; the TwiML answer's text, or None for an empty answer."""
    sid = "SM" + secrets.token_hex(16)
    params = [("MessageSid", sid), ("From", sender), ("To", "+14155550100"), ("Body", body)]
    params += [("AccountSid", "AC" + "0" * 32)]
    headers = {**FORM, "X-Twilio-Signature": sign(PUBLIC_BASE_URL + PATH, params)}
    response = await client.post(PATH, content=urlencode(params), headers=headers)
    assert response.status_code == 200, response.text
    found = ElementTree.fromstring(response.text).find("Message")
    return found.text if found is not None else None


def filed(db: Database) -> list[tuple[str, str]]:
    """(message body, why) for every message in the inbox, oldest first."""
    with db.read_session() as session:
        rows = session.execute(
            select(InboundMessage.body, InboxMessage.kind)
            .join(InboxMessage, InboxMessage.inbound_id == InboundMessage.id)
            .order_by(InboundMessage.id)
        )
        return [(body or "", kind.value) for body, kind in rows]


def handed_off(db: Database, customer_id: int) -> bool:
    with db.read_session() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return customer.handed_off_at is not None


async def test_a_text_the_bot_does_not_understand_is_answered_and_filed(
    client: httpx.AsyncClient, people: dict[str, int], committed_db: Database
) -> None:
    answer = await text(client, "the handle of my mug is cracked")
    assert answer is not None
    assert "didn't get that" in answer
    assert filed(committed_db) == [("the handle of my mug is cracked", "not_understood")]


async def test_a_status_question_is_answered_by_the_bot_and_not_filed(
    client: httpx.AsyncClient, people: dict[str, int], committed_db: Database
) -> None:
    answer = await text(client, "where is my order?")
    assert answer is not None
    assert "A-1" in answer
    assert filed(committed_db) == []


async def test_asking_for_a_person_hands_off_until_an_agent_closes(
    client: httpx.AsyncClient, people: dict[str, int], committed_db: Database
) -> None:
    answer = await text(client, "Can I talk to a human please")
    assert answer is not None
    assert "a person from our team will answer" in answer
    assert handed_off(committed_db, people["ada"])

    assert await text(client, "where is my order?") is None  # a person answers, not the bot
    assert await text(client, "hello?") is None
    help_answer = await text(client, "HELP")  # carriers require HELP answered
    assert help_answer is not None
    assert "STOP" in help_answer
    assert filed(committed_db) == [
        ("Can I talk to a human please", "human_requested"),
        ("where is my order?", "handed_off"),
        ("hello?", "handed_off"),
    ]
    with committed_db.read_session() as session:
        item = session.scalars(select(InboxItem)).one()
        assert (item.kind.value, item.message_count) == ("human_requested", 3)

    client.headers.update(AUTH)
    closed = await client.post(f"/api/inbox/{item.id}/close", json={"agent": "ada-agent"})
    assert closed.status_code == 200
    assert closed.json()["closed_by"] == "ada-agent"
    assert not handed_off(committed_db, people["ada"])
    answer = await text(client, "where is my order?")
    assert answer is not None
    assert "A-1" in answer


async def test_stop_still_opts_out_during_a_hand_off_and_is_filed(
    client: httpx.AsyncClient, people: dict[str, int], committed_db: Database
) -> None:
    await text(client, "agent")
    answer = await text(client, "STOP")
    assert answer is not None
    assert "START" in answer
    with committed_db.read_session() as session:
        ada = session.get(Customer, people["ada"])
        assert ada is not None
        assert ada.sms_state == ReachState.OPTED_OUT
    assert filed(committed_db) == [("agent", "human_requested"), ("STOP", "opted_out")]


async def test_a_spanish_customer_hears_the_hand_off_in_spanish(
    client: httpx.AsyncClient, people: dict[str, int], committed_db: Database
) -> None:
    answer = await text(client, "quiero hablar con una persona", sender=PILAR)
    assert answer is not None
    assert "una persona de nuestro equipo" in answer
    assert filed(committed_db) == [("quiero hablar con una persona", "human_requested")]


async def test_a_message_is_not_marked_handled_when_filing_it_fails(
    client: httpx.AsyncClient,
    people: dict[str, int],
    committed_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Filing commits with the "handled" mark: a failure leaves the message for the retry."""

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("inbox down")

    monkeypatch.setattr(store.inbox, "file_message", broken)
    with pytest.raises(RuntimeError):
        await text(client, "the handle of my mug is cracked")
    with committed_db.read_session() as session:
        logged = session.scalars(select(InboundMessage)).one()
        assert logged.handled_at is None  # Twilio's retry handles (and files) it


# --- the API ---------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def api(client: httpx.AsyncClient, people: dict[str, int]) -> httpx.AsyncClient:
    await text(client, "I need a person")
    await text(client, "my mug is cracked", sender=PILAR)
    client.headers.update(AUTH)
    return client


async def test_inbox_lists_open_items_with_counts_and_filters(api: httpx.AsyncClient) -> None:
    everything = (await api.get("/api/inbox")).json()
    assert everything["total"] == 2
    assert everything["counts"]["open"] == 2
    kinds = sorted(item["kind"] for item in everything["items"])
    assert kinds == ["human_requested", "not_understood"]
    humans = (await api.get("/api/inbox", params={"kind": "human_requested"})).json()
    assert [i["customer_name"] for i in humans["items"]] == ["Ada Lovelace"]
    assert humans["items"][0]["last_text"] == "I need a person"
    paged = (await api.get("/api/inbox", params={"per_page": 1, "page": 2})).json()
    assert (paged["total"], paged["pages"], len(paged["items"])) == (2, 2, 1)
    assert (await api.get("/api/inbox", params={"kind": "gossip"})).status_code == 422


async def test_inbox_needs_the_token(api: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/api/inbox"),
        ("POST", "/api/inbox/1/close"),
        ("POST", "/api/inbox/1/assign"),
        ("POST", "/api/customers/1/messages"),
    ):
        response = await api.request(
            method, path, json={"agent": "x", "text": "hi"}, headers={"Authorization": "Bearer no"}
        )
        assert response.status_code == 401, path


async def test_assigning_someone_elses_item_needs_take_over(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    item_id = (await api.get("/api/inbox")).json()["items"][0]["id"]
    mine = await api.post(f"/api/inbox/{item_id}/assign", json={"agent": "bea"})
    assert mine.status_code == 200
    assert mine.json()["assigned_to"] == "bea"
    theirs = await api.post(f"/api/inbox/{item_id}/assign", json={"agent": "cy"})
    assert theirs.status_code == 409
    assert "bea" in theirs.json()["detail"]
    taken = await api.post(f"/api/inbox/{item_id}/assign", json={"agent": "cy", "take_over": True})
    assert taken.status_code == 200
    assert taken.json()["assigned_to"] == "cy"
    only_cy = (await api.get("/api/inbox", params={"assigned_to": "cy"})).json()
    assert [i["id"] for i in only_cy["items"]] == [item_id]
    assert only_cy["counts"]["mine"] == 1
    with committed_db.read_session() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["inbox.assign", "inbox.assign"]


async def test_an_unknown_item_is_404_and_a_closed_one_cannot_be_assigned(
    api: httpx.AsyncClient,
) -> None:
    for path in ("/api/inbox/999999/close", "/api/inbox/999999/assign"):
        assert (await api.post(path, json={"agent": "bea"})).status_code == 404
    assert (await api.post("/api/inbox/0/close", json={"agent": "bea"})).status_code == 422
    item_id = (await api.get("/api/inbox")).json()["items"][0]["id"]
    assert (await api.post(f"/api/inbox/{item_id}/close", json={"agent": "bea"})).status_code == 200
    again = await api.post(f"/api/inbox/{item_id}/close", json={"agent": "bea"})
    assert again.status_code == 200  # closing twice changes nothing
    refused = await api.post(f"/api/inbox/{item_id}/assign", json={"agent": "bea"})
    assert refused.status_code == 409
    closed = (await api.get("/api/inbox", params={"state": "closed"})).json()
    assert [i["id"] for i in closed["items"]] == [item_id]


async def test_a_reply_by_hand_is_queued_urgent_audited_and_in_the_timeline(
    api: httpx.AsyncClient, people: dict[str, int], committed_db: Database
) -> None:
    ada = people["ada"]
    preview = await api.post(
        f"/api/customers/{ada}/messages", json={"text": "Hi Ada, it ships Monday", "dry_run": True}
    )
    assert preview.status_code == 200
    assert preview.json()["segments"] == 1
    assert preview.json()["outbox_id"] is None
    body = {"text": "Hi Ada, it ships Monday", "agent": "bea", "idempotency_key": "k-12345678"}
    sent = await api.post(f"/api/customers/{ada}/messages", json=body)
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert answer["channel"] == "sms"
    assert answer["urgent"] is True
    again = await api.post(f"/api/customers/{ada}/messages", json=body)
    assert again.json()["repeated"] is True
    assert again.json()["outbox_id"] == answer["outbox_id"]
    with committed_db.read_session() as session:
        queued = session.scalars(select(OutboxMessage)).one()
        assert (queued.address, queued.message, queued.urgent) == (ADA, "agent_reply", True)
        assert queued.body.endswith("Hi Ada, it ships Monday")
        assert session.scalars(select(AgentReply.agent)).all() == ["bea"]
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "customer.reply"))
        assert [(a.actor, a.subject) for a in audit] == [("bea", f"customer:{ada}")]
        item = session.scalars(select(InboxItem).where(InboxItem.customer_id == ada)).one()
        assert item.assigned_to == "bea"  # who answers, owns it
    timeline = (await api.get(f"/api/customers/{ada}/messages")).json()["entries"]
    mine = [e for e in timeline if e["kind"] == "outbound"]
    expected = [("bea", "Our shop: Hi Ada, it ships Monday")]
    assert [(e["agent"], e["text"]) for e in mine] == expected


async def test_a_reply_to_someone_who_has_not_written_waits_for_quiet_hours_to_end(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    with committed_db.session() as session:
        quiet = f.customer(session, "Quiet Quentin", phone="+14155550163")
        quiet_id = quiet.id
    sent = await api.post(f"/api/customers/{quiet_id}/messages", json={"text": "News for you"})
    assert sent.status_code == 200
    assert sent.json()["urgent"] is False


async def test_a_reply_is_refused_on_a_channel_that_does_not_reach_the_customer(
    api: httpx.AsyncClient, people: dict[str, int], committed_db: Database
) -> None:
    with committed_db.session() as session:
        ada = session.get(Customer, people["ada"])
        assert ada is not None
        ada.sms_state = ReachState.OPTED_OUT
    opted_out = await api.post(f"/api/customers/{people['ada']}/messages", json={"text": "hi"})
    assert opted_out.status_code == 409
    assert "opted out" in opted_out.json()["detail"]
    telegram = await api.post(
        f"/api/customers/{people['pilar']}/messages", json={"text": "hola", "channel": "telegram"}
    )
    assert telegram.status_code == 409
    assert "Telegram" in telegram.json()["detail"]
    nobody = await api.post("/api/customers/999999/messages", json={"text": "hi"})
    assert nobody.status_code == 404
    blank = await api.post(f"/api/customers/{people['pilar']}/messages", json={"text": "   "})
    assert blank.status_code == 422
    with committed_db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_a_failed_delivery_is_filed_once(
    api: httpx.AsyncClient, people: dict[str, int], committed_db: Database
) -> None:
    """Marked failed, then seen failed again (the dispatcher, then a report): one item, listed."""
    with committed_db.session() as session:
        row = OutboxMessage(
            dedupe_key="x-1",
            customer_id=people["pilar"],
            channel="sms",
            address=PILAR,
            message="delay_notice",
            locale="es",
            body="...",
            status="failed",
            last_error="21610: unsubscribed recipient",
            created_at=utcnow() - dt.timedelta(minutes=5),
        )
        session.add(row)
        session.flush()
        # What every writer that marks a row failed does in its transaction.
        assert store.inbox.file_delivery_failures(session, utcnow(), [row.id]) == 1
    with committed_db.session() as session:
        assert store.inbox.file_delivery_failures(session, utcnow(), [row.id]) == 0
    for _ in range(2):
        failed = (await api.get("/api/inbox", params={"kind": "delivery_failed"})).json()
        assert [(i["customer_name"], i["detail"]) for i in failed["items"]] == [
            ("Pilar Ruiz", "21610: unsubscribed recipient")
        ]


async def test_the_inbox_and_replies_are_in_the_openapi_description(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths["/api/inbox"]) == {"get"}
    assert "post" in paths["/api/inbox/{item_id}/close"]
    assert "post" in paths["/api/inbox/{item_id}/assign"]
    assert set(paths["/api/customers/{customer_id}/messages"]) == {"get", "post"}


async def test_with_an_agents_own_token_the_inbox_acts_as_that_agent_only(
    api: httpx.AsyncClient, committed_db: Database
) -> None:
    with committed_db.session() as session:
        add_agent(session, "bea", "a long enough password", now=utcnow())
        token = api_tokens.issue(session, "bea", "phone app", now=utcnow(), actor="boss").token
    bea = {"Authorization": f"Bearer {token}"}
    item_id = (await api.get("/api/inbox")).json()["items"][0]["id"]
    posing = await api.post(f"/api/inbox/{item_id}/assign", json={"agent": "cy"}, headers=bea)
    assert posing.status_code == 422
    mine = await api.post(f"/api/inbox/{item_id}/assign", json={}, headers=bea)
    assert mine.json()["assigned_to"] == "bea"
    closed = await api.post(f"/api/inbox/{item_id}/close", json={}, headers=bea)
    assert closed.json()["closed_by"] == "bea"
    # The shop's token still needs the agent named: nobody is "api" in an inbox.
    assert (await api.post(f"/api/inbox/{item_id}/close", json={})).status_code == 422
    with committed_db.read_session() as session:
        actors = session.scalars(select(AuditEntry.actor).where(AuditEntry.action.like("inbox.%")))
        assert sorted(actors) == ["bea", "bea"]
