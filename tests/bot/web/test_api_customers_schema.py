"""The customer routes' answers, on a shop with history, match the app's own OpenAPI schema.

The fuzz run (``test_api_fuzz.py``) calls them on an empty database, where almost every answer
is a 404; here each documented 200 is checked against its schema, every timeline kind present.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import select

from bot.web import create_app
from store.db import Database
from store.models import Channel, InboundMessage, Offer, OfferChoice, OutboxMessage
from store.offers import accept_offer
from store.order_links import revoke, token_for_order
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.bot.web.conftest import twilio_settings

API_TOKEN = "agent-token-for-schema-tests-0123"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def customer_id(committed_db: Database) -> int:
    """A customer with one entry of every timeline kind."""
    with committed_db.session() as session:
        f.product(session, "OVEN")
        who = f.customer(session, "Ada Lovelace", phone="+14155550142")
        order = f.order(session, "A-7", [("OVEN", 1)], who=who)
        at = f.NOW + dt.timedelta(hours=1)
        session.add(
            InboundMessage(
                channel=Channel.SMS,
                provider_id="SM1",
                sender="+14155550142",
                body="hi",
                received_at=at,
                customer_id=who.id,
            )
        )
        session.add(
            OutboxMessage(
                dedupe_key="schema:1",
                customer_id=who.id,
                channel=Channel.SMS,
                address="+14155550142",
                message="backordered",
                locale="en",
                body="late",
                created_at=at,
            )
        )
        offer = session.scalars(select(Offer)).one()
        accept_offer(
            session, offer.id, OfferChoice.CANCEL, via="sms", now=at, policy=DEFAULT_POLICY
        )
        token_for_order(session, order.id, b"k" * 32, at)
        revoke(session, order.id, at + dt.timedelta(minutes=1))
        return who.id


def test_each_customer_answer_matches_its_schema(
    committed_db: Database, customer_id: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app(twilio_settings(agent_api_token=API_TOKEN), committed_db)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    calls = [
        ("/api/customers", {}, {"q": "(415) 555-0142"}),
        ("/api/customers/{customer_id}", {"customer_id": customer_id}, {}),
        ("/api/customers/{customer_id}/messages", {"customer_id": customer_id}, {"limit": 3}),
    ]
    for path, path_parameters, query in calls:
        case = schema[path]["GET"].Case(path_parameters=path_parameters, query=query)
        response = case.call(headers=AUTH)
        assert response.status_code == 200, response.text
        case.validate_response(response, checks=[response_schema_conformance])
    everything = schema["/api/customers/{customer_id}/messages"]["GET"].Case(
        path_parameters={"customer_id": customer_id}, query={"limit": 200}
    )
    response = everything.call(headers=AUTH)
    everything.validate_response(response, checks=[response_schema_conformance])
    kinds = {e["kind"] for e in response.json()["entries"]}
    assert kinds == {"inbound", "outbound", "choice", "link_issued", "link_revoked", "refund"}
