"""``/api/customers``: search, a customer's record, their timeline page by page; 401 without the
token, 404 for a customer who does not exist, 422 for a cursor not made here; no phone number
in the logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.web import create_app
from bot.web.access_log import ACCESS_LOGGER
from store.db import Database
from store.models import Channel, InboundMessage, Offer, OfferChoice
from store.offers import accept_offer
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.bot.web.conftest import client_for, twilio_settings

pytestmark = pytest.mark.asyncio

API_TOKEN = "agent-token-for-customer-tests-0123"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
PHONE = "+14155550142"


@pytest.fixture
def ada_id(committed_db: Database) -> int:
    """Ada (+1 415 555 0142) waits for an OVEN in order A-7; she wrote 12 texts, chose to wait."""
    with committed_db.session() as session:
        f.product(session, "OVEN")
        ada = f.customer(session, "Ada Lovelace", phone=PHONE)
        f.order(session, "A-7", [("OVEN", 1)], who=ada)
        for i in range(12):
            session.add(
                InboundMessage(
                    channel=Channel.SMS,
                    provider_id=f"SM{i}",
                    sender=PHONE,
                    body=f"text {i}",
                    received_at=f.NOW,  # all at one instant: the cursor must break the ties
                    customer_id=ada.id,
                )
            )
        offer = session.scalars(select(Offer)).one()
        later = f.NOW.replace(hour=13)
        accept_offer(
            session, offer.id, OfferChoice.WAIT, via="telegram", now=later, policy=DEFAULT_POLICY
        )
        return ada.id


@pytest_asyncio.fixture
async def api(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.chdir(tmp_path)
    settings = twilio_settings(agent_api_token=API_TOKEN, default_phone_region="US")
    async with client_for(create_app(settings, committed_db)) as client:
        client.headers.update(AUTH)
        yield client


async def test_search_finds_a_customer_by_a_national_phone_number(
    api: httpx.AsyncClient, ada_id: int
) -> None:
    response = await api.get("/api/customers", params={"q": "(415) 555-0142"})
    assert response.status_code == 200
    assert response.json()["hits"] == [
        {
            "customer_id": ada_id,
            "name": "Ada Lovelace",
            "phone": PHONE,
            "matched": "phone",
            "detail": None,
        }
    ]


@pytest.mark.parametrize(("q", "matched"), [("a-7", "order"), ("oven", "sku"), ("LOVE", "name")])
async def test_search_finds_her_by_each_key(
    api: httpx.AsyncClient, ada_id: int, q: str, matched: str
) -> None:
    hits = (await api.get("/api/customers", params={"q": q})).json()["hits"]
    assert [(h["customer_id"], h["matched"]) for h in hits] == [(ada_id, matched)]


async def test_a_customer_shows_orders_lines_and_consent(
    api: httpx.AsyncClient, ada_id: int
) -> None:
    body = (await api.get(f"/api/customers/{ada_id}")).json()
    assert body["name"] == "Ada Lovelace"
    assert body["sms"]["state"] == "active"
    assert body["sms"]["address_known"] is True
    assert body["telegram"]["address_known"] is False  # no chat linked
    [order] = body["orders"]
    assert order["number"] == "A-7"
    assert [(line["sku"], line["status"]) for line in order["lines"]] == [("OVEN", "backordered")]


async def test_the_timeline_comes_a_page_at_a_time_to_the_end(
    api: httpx.AsyncClient, ada_id: int
) -> None:
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 5}
    for _ in range(10):
        body = (await api.get(f"/api/customers/{ada_id}/messages", params=params)).json()
        seen += body["entries"]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen[0]["kind"] == "choice"
    assert seen[0]["via"] == "telegram"
    texts = [e["text"] for e in seen if e["kind"] == "inbound"]
    assert sorted(texts) == sorted(f"text {i}" for i in range(12))  # none lost, none twice
    assert len(seen) == 13


@pytest.mark.parametrize("path", ["/api/customers/999999", "/api/customers/999999/messages"])
async def test_an_unknown_customer_is_404(api: httpx.AsyncClient, ada_id: int, path: str) -> None:
    response = await api.get(path)
    assert response.status_code == 404
    assert response.json()["detail"] == "customer 999999 does not exist"


async def test_a_cursor_not_made_here_is_422_at_the_cursor(
    api: httpx.AsyncClient, ada_id: int
) -> None:
    response = await api.get(f"/api/customers/{ada_id}/messages", params={"cursor": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    "path", ["/api/customers?q=ada", "/api/customers/1", "/api/customers/1/messages"]
)
@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_every_customer_route_needs_the_token(
    api: httpx.AsyncClient, path: str, token: str | None
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    del api.headers["Authorization"]
    response = await api.get(path, headers=headers)
    assert response.status_code == 401


async def test_the_access_log_never_shows_the_searched_phone_number(
    api: httpx.AsyncClient, ada_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    # The filter sits on uvicorn's access logger: log a record there as uvicorn would, caught
    # by a handler of that logger (uvicorn's own config may stop it propagating to the root).
    access = logging.getLogger(ACCESS_LOGGER)
    caught = Caught()
    access.addHandler(caught)
    level = access.level
    access.setLevel(logging.INFO)
    caplog.set_level(logging.DEBUG)
    try:
        access.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/api/customers?q={PHONE}", "1.1", 200
        )
        await api.get("/api/customers", params={"q": PHONE})
    finally:
        access.removeHandler(caught)
        access.setLevel(level)
    assert caught.lines == ['127.0.0.1:5 - "GET /api/customers?… HTTP/1.1" 200']
    assert PHONE not in caplog.text  # nor in anything else logged while searching


class Caught(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_a_customer_id_past_the_column_range_is_422(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/api/customers/{2**31}")
    assert response.status_code == 422


async def test_the_timeline_masks_order_page_keys(
    api: httpx.AsyncClient, ada_id: int, committed_db: Database
) -> None:
    with committed_db.session() as session:
        session.add(
            InboundMessage(
                channel=Channel.SMS,
                provider_id="SM-link",
                sender=PHONE,
                body="is https://shop.example/o/grx22CvBirRZUMyZ1FJP3A mine?",
                received_at=f.NOW.replace(hour=20),
                customer_id=ada_id,
            )
        )
    body = (await api.get(f"/api/customers/{ada_id}/messages", params={"limit": 1})).json()
    assert body["entries"][0]["text"] == "is https://shop.example/o/… mine?"
