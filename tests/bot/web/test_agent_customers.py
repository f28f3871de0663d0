"""The dashboard's search box, results page and customer page, through the ASGI app: sign-in
required, every key found, orders and one timeline shown, hostile names and texts escaped."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.settings import Settings
from bot.web import create_app
from store.agents import add_agent
from store.db import Database
from store.models import (
    Channel,
    InboundMessage,
    Offer,
    OfferChoice,
    OutboxMessage,
    OutboxStatus,
    utcnow,
)
from store.offers import accept_offer
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.bot.web.conftest import twilio_settings
from tests.bot.web.test_agent_dashboard import PASSWORD, client_for, sign_in

pytestmark = pytest.mark.asyncio

PHONE = "+14155550177"
HOSTILE_NAME = '<script>alert("name")</script> O\'Brien & Sons'
HOSTILE_TEXT = '<img src=x onerror=alert(1)> "quoted" & more'


@pytest.fixture
def shop(committed_db: Database) -> dict[str, int]:
    """Ada waits for an OVEN (A-7); she chose to wait by SMS; one text in, one failed out.
    A customer with a hostile name wrote a hostile text; Bob has 60 texts."""
    with committed_db.session() as session:
        add_agent(session, "ada", PASSWORD, now=utcnow())
        f.product(session, "OVEN")
        ada = f.customer(session, "Ada Lovelace", phone=PHONE)
        f.order(session, "A-7", [("OVEN", 1)], who=ada)
        offer = session.scalars(select(Offer)).one()
        at = f.NOW + dt.timedelta(hours=1)
        accept_offer(session, offer.id, OfferChoice.WAIT, via="sms", now=at, policy=DEFAULT_POLICY)
        _inbound(session, ada.id, "where is my oven", f.NOW, "SM-ada")
        session.add(
            OutboxMessage(
                dedupe_key="test:failed",
                customer_id=ada.id,
                channel=Channel.SMS,
                address=PHONE,
                message="backordered",
                locale="en",
                body="Your oven is on backorder.",
                status=OutboxStatus.FAILED,
                last_error="21610: the number has opted out",
                created_at=f.NOW + dt.timedelta(minutes=5),
            )
        )
        evil = f.customer(session, HOSTILE_NAME)
        _inbound(session, evil.id, HOSTILE_TEXT, f.NOW, "SM-evil")
        bob = f.customer(session, "Bob Many")
        session.execute(
            insert(InboundMessage),
            [
                {
                    "channel": Channel.SMS,
                    "provider_id": f"SM-bob-{i}",
                    "sender": "+1",
                    "body": f"bob text {i:02d}",
                    "received_at": f.NOW + dt.timedelta(minutes=i),
                    "customer_id": bob.id,
                }
                for i in range(60)
            ],
        )
        return {"ada": ada.id, "evil": evil.id, "bob": bob.id}


def _inbound(session: Session, customer_id: int, body: str, at: dt.datetime, sid: str) -> None:
    session.add(
        InboundMessage(
            channel=Channel.SMS,
            provider_id=sid,
            sender="+1",
            body=body,
            received_at=at,
            customer_id=customer_id,
        )
    )


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)
    return twilio_settings(default_phone_region="US")


@pytest_asyncio.fixture
async def client(settings: Settings, committed_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(settings, committed_db)) as c:
        yield c


@pytest_asyncio.fixture
async def agent(client: httpx.AsyncClient, shop: dict[str, int]) -> httpx.AsyncClient:
    assert (await sign_in(client)).status_code == 303
    return client


@pytest.mark.parametrize("path", ["/agent/search?q=ada", "/agent/customers/1"])
async def test_search_and_customer_pages_need_a_signed_in_agent(
    client: httpx.AsyncClient, shop: dict[str, int], path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].endswith("/agent/login")


async def test_every_page_has_the_search_box(agent: httpx.AsyncClient) -> None:
    for path in ("/agent", "/agent/broadcasts/new", "/agent/search"):
        page = (await agent.get(path)).text
        assert 'role="search"' in page, path
        assert 'action="/agent/search"' in page, path


@pytest.mark.parametrize(
    ("q", "found_by"),
    [
        ("(415) 555-0177", "phone"),
        ("415.555.0177", "phone"),
        ("+1 415 555 0177", "phone"),
        ("a-7", "order"),
        ("oven", "ordered"),
        ("lovelace", "name"),
    ],
)
async def test_search_finds_ada_by_every_key(
    agent: httpx.AsyncClient, shop: dict[str, int], q: str, found_by: str
) -> None:
    page = (await agent.get("/agent/search", params={"q": q})).text
    anchor = "#order-A-7" if found_by == "order" else ""  # an order hit opens at that order
    assert f'href="/agent/customers/{shop["ada"]}{anchor}">Ada Lovelace</a>' in page
    assert f'<td data-label="Found by">{found_by}' in page
    assert f'value="{html.escape(q)}"' in page  # the box keeps what was typed


async def test_a_search_that_finds_nobody_says_so(agent: httpx.AsyncClient) -> None:
    page = (await agent.get("/agent/search", params={"q": "nobody at all"})).text
    assert "No customer matches “nobody at all”." in page


async def test_the_customer_page_shows_orders_consent_and_the_timeline(
    agent: httpx.AsyncClient, shop: dict[str, int]
) -> None:
    response = await agent.get(f"/agent/customers/{shop['ada']}")
    assert response.status_code == 200
    page = response.text
    assert "<h1>Ada Lovelace</h1>" in page
    assert PHONE in page
    assert "Order A-7" in page
    assert '<span class="tag line-backordered">backordered</span>' in page
    assert "may be sent to" in page
    assert "(not linked)" in page
    timeline = page[page.index('id="timeline"') :]
    order = [
        timeline.index("Choice: wait"),
        timeline.index("Your oven is on backorder."),
        timeline.index("where is my oven"),
    ]
    assert order == sorted(order)  # newest first
    assert "by the customer, SMS" in timeline
    assert '<span class="tag status-failed">failed</span>' in timeline
    assert 'id="order-A-7"' in page
    assert "21610: the number has opted out" in timeline


async def test_hostile_names_and_texts_are_escaped(
    agent: httpx.AsyncClient, shop: dict[str, int]
) -> None:
    search = (await agent.get("/agent/search", params={"q": "<script>"})).text
    page = (await agent.get(f"/agent/customers/{shop['evil']}")).text
    for body in (search, page):
        assert "<script>alert" not in body
        assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt; O&#39;Brien &amp; Sons" in body
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; &#34;quoted&#34; &amp; more" in page


async def test_the_timeline_pages_back_with_older(
    agent: httpx.AsyncClient, shop: dict[str, int]
) -> None:
    first = (await agent.get(f"/agent/customers/{shop['bob']}")).text
    assert first.count('class="entry entry-inbound"') == 50
    assert "bob text 59" in first
    assert "bob text 09" not in first
    found = re.search(r'href="([^"]+\?before=[^"#]+)#timeline">Older', first)
    assert found is not None
    older = (await agent.get(html.unescape(found.group(1)))).text
    assert older.count('class="entry entry-inbound"') == 10
    assert "bob text 09" in older
    assert "bob text 10" not in older
    assert ">Older<" not in older


async def test_a_cursor_edited_by_hand_shows_the_newest_entries(
    agent: httpx.AsyncClient, shop: dict[str, int]
) -> None:
    for before in ("garbage", "\x00", "MjAyNnxpbmJvdW5kfDE\x00"):
        response = await agent.get(f"/agent/customers/{shop['bob']}", params={"before": before})
        assert response.status_code == 200
        assert "bob text 59" in response.text


@pytest.mark.parametrize("customer_id", ["999999", "abc", "0", str(2**40), "²", "１"])
async def test_an_unknown_customer_is_a_404_page(
    agent: httpx.AsyncClient, customer_id: str
) -> None:
    response = await agent.get(f"/agent/customers/{customer_id}")
    assert response.status_code == 404
    assert "There is no such customer." in response.text


async def test_a_message_waiting_for_its_turn_reads_queued(
    agent: httpx.AsyncClient, shop: dict[str, int], committed_db: Database
) -> None:
    with committed_db.session() as session:
        session.add(
            OutboxMessage(
                dedupe_key="test:pending",
                customer_id=shop["ada"],
                channel=Channel.TELEGRAM,
                address="42",
                message="ready_to_ship",
                locale="en",
                body="Your oven ships today.",
                status=OutboxStatus.PENDING,
                created_at=f.NOW + dt.timedelta(days=1),
            )
        )
    page = (await agent.get(f"/agent/customers/{shop['ada']}")).text
    assert '<span class="tag status-pending">queued</span>' in page
    assert "· Telegram ·" in page


@pytest.mark.parametrize(
    "query", ["love%00lace", "%ED%B3%BF", "%FF%FE", "x" * 5000, "%25_%5C", "q=a&q=b"]
)
async def test_odd_searches_are_answered_not_500(agent: httpx.AsyncClient, query: str) -> None:
    response = await agent.get("/agent/search?q=" + query)
    assert response.status_code == 200


async def test_telegram_html_reads_as_text_and_link_keys_are_masked(
    agent: httpx.AsyncClient, shop: dict[str, int], committed_db: Database
) -> None:
    token = "grx22CvBirRZUMyZ1FJP3A"
    with committed_db.session() as session:
        session.add(
            OutboxMessage(
                dedupe_key="test:telegram-html",
                customer_id=shop["ada"],
                channel=Channel.TELEGRAM,
                address="42",
                message="ready_to_ship",
                locale="en",
                body=f'<b>Good news</b>: <a href="https://shop.example/o/{token}">your order</a>',
                status=OutboxStatus.SENT,
                created_at=f.NOW + dt.timedelta(days=1),
            )
        )
        _inbound(session, shop["ada"], f"/start {token}", f.NOW + dt.timedelta(days=2), "TG-1")
    page = (await agent.get(f"/agent/customers/{shop['ada']}")).text
    assert "Good news: your order (https://shop.example/o/…)" in page
    assert "/start …" in page
    assert token not in page
    assert "&lt;b&gt;" not in page


async def test_a_broadcast_message_links_to_its_broadcast(
    agent: httpx.AsyncClient, shop: dict[str, int], committed_db: Database
) -> None:
    with committed_db.session() as session:
        session.add(
            OutboxMessage(
                dedupe_key="test:broadcast",
                customer_id=shop["ada"],
                channel=Channel.SMS,
                address=PHONE,
                message="broadcast",
                locale="en",
                body="We are closed on Monday.",
                broadcast_id=77,
                status=OutboxStatus.DELIVERED,
                created_at=f.NOW + dt.timedelta(days=1),
            )
        )
    page = (await agent.get(f"/agent/customers/{shop['ada']}")).text
    assert '<a href="/agent/broadcasts/77">Broadcast #77</a>' in page
    assert '<span class="tag status-delivered">delivered</span>' in page


async def test_the_reply_form_does_not_offer_a_channel_the_customer_cannot_be_reached_on(
    agent: httpx.AsyncClient, shop: dict[str, int]
) -> None:
    """Ada has a phone and no linked Telegram: Telegram is shown, greyed out, and says why."""
    page = (await agent.get(f"/agent/customers/{shop['ada']}")).text
    select_ = page[page.index('id="reply-channel"') : page.index("</select>")]
    assert '<option value="telegram" disabled>Telegram (not linked)</option>' in select_
    assert '<option value="sms">SMS</option>' in select_
