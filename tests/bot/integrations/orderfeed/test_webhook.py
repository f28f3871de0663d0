"""``POST /webhooks/orders`` on the real app: signing, replay, exactly-once, what events do."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.integrations.orderfeed.ingest import refused_events
from bot.settings import Settings
from bot.web import create_app
from store.db import Database
from store.models import (
    Customer,
    DomainEvent,
    LineStatus,
    Offer,
    Order,
    OrderLine,
    Product,
    Refund,
    Shipment,
)
from store.tables_orderfeed import FeedEvent, FeedOutcome
from tests import factories as f
from tests.bot.integrations.orderfeed import harness as h

pytestmark = pytest.mark.asyncio

PATH = "/webhooks/orders"
TOKEN = "agent-token-0123456789abcdef"
ETA = dt.date(2026, 12, 20)


@pytest.fixture
def feed_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env
    return h.settings(agent_api_token=TOKEN)


@pytest_asyncio.fixture
async def feed(committed_db: Database, feed_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(feed_settings, committed_db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def send(
    client: httpx.AsyncClient, events: list[dict[str, Any]], **kw: Any
) -> httpx.Response:
    body, headers = h.signed(events, **kw)
    return await client.post(PATH, content=body, headers=headers)


def outcomes(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [r["outcome"] for r in answer.json()["results"]]


def count(db: Database, model: Any) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def products(db: Database, **stock: int) -> None:
    with db.session() as session:
        for sku, units in stock.items():
            f.product(session, sku, stock=units, eta=ETA)


def lines(db: Database, number: str) -> list[tuple[str, int, int, LineStatus]]:
    with db.read_session() as session:
        rows = session.execute(
            select(
                Product.sku,
                OrderLine.allocated_quantity,
                OrderLine.backordered_quantity,
                OrderLine.status,
            )
            .join(Product, Product.id == OrderLine.product_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.number == number)
            .order_by(OrderLine.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


# --- signing and replay ---------------------------------------------------------------------


async def test_a_signed_order_is_applied(committed_db: Database, feed: httpx.AsyncClient) -> None:
    products(committed_db, TEA=5)
    answer = await send(feed, [h.order("W-1", [("TEA", 2)])])
    assert outcomes(answer) == ["applied"]
    assert lines(committed_db, "W-1") == [("TEA", 2, 0, LineStatus.ALLOCATED)]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b, hd: (b.replace(b'"quantity": 2', b'"quantity": 9'), hd), id="body"),
        pytest.param(lambda b, hd: (b + b" ", hd), id="trailing-space"),
        pytest.param(
            lambda b, hd: (b, {**hd, "X-Feed-Timestamp": str(int(hd["X-Feed-Timestamp"]) + 1)}),
            id="timestamp",
        ),
        pytest.param(lambda b, hd: (b, {**hd, "X-Feed-Signature": ""}), id="no-signature"),
        pytest.param(
            lambda b, hd: (b, {k: v for k, v in hd.items() if k != "X-Feed-Timestamp"}),
            id="no-timestamp",
        ),
    ],
)
async def test_a_tampered_request_is_refused_401_and_writes_nothing(
    committed_db: Database, feed: httpx.AsyncClient, tamper: Any
) -> None:
    products(committed_db, TEA=5)
    body, headers = tamper(*h.signed([h.order("W-1", [("TEA", 2)])]))
    answer = await feed.post(PATH, content=body, headers=headers)
    assert answer.status_code == 401
    assert count(committed_db, FeedEvent) == 0
    assert count(committed_db, Order) == 0


async def test_a_request_signed_with_another_secret_is_refused(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    products(committed_db, TEA=5)
    answer = await send(feed, [h.order("W-1", [("TEA", 2)])], secret="not-the-shared-secret")
    assert answer.status_code == 401
    assert answer.json() == {"detail": "invalid signature"}
    assert count(committed_db, FeedEvent) == 0


@pytest.mark.parametrize("age", [301, -301, 86_400])
async def test_a_timestamp_outside_the_replay_window_is_refused(
    committed_db: Database, feed: httpx.AsyncClient, age: int
) -> None:
    products(committed_db, TEA=5)
    answer = await send(feed, [h.order("W-1", [("TEA", 2)])], timestamp=int(time.time()) - age)
    assert answer.status_code == 401
    assert "300 s" in answer.json()["detail"]
    assert count(committed_db, Order) == 0


async def test_a_replayed_request_inside_the_window_is_applied_once(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    products(committed_db, TEA=5)
    body, headers = h.signed([h.order("W-1", [("TEA", 2)])])
    first = await feed.post(PATH, content=body, headers=headers)
    again = await feed.post(PATH, content=body, headers=headers)
    assert outcomes(first) == ["applied"]
    assert outcomes(again) == ["duplicate"]
    assert count(committed_db, Order) == 1
    assert count(committed_db, OrderLine) == 1
    assert count(committed_db, FeedEvent) == 1


async def test_without_a_secret_the_feed_answers_503(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app(h.settings(order_feed_secret=None), committed_db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        body, headers = h.signed([h.stock("TEA", 1)])
        answer = await client.post(PATH, content=body, headers=headers)
    assert answer.status_code == 503
    assert count(committed_db, FeedEvent) == 0


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"events": []}', b'{"events": [{"type": "stock"}]}'],
    ids=["not-json", "not-an-object", "no-events", "no-id"],
)
async def test_a_body_that_is_not_a_batch_is_400_and_writes_nothing(
    committed_db: Database, feed: httpx.AsyncClient, body: bytes
) -> None:
    answer = await send(feed, body)
    assert answer.status_code == 400
    assert count(committed_db, FeedEvent) == 0


async def test_a_batch_with_the_same_id_twice_is_refused_whole(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    products(committed_db, TEA=0)
    event = h.stock("TEA", 4)
    answer = await send(feed, [event, {**event, "count": 9}])
    assert answer.status_code == 400
    assert count(committed_db, FeedEvent) == 0


# --- what events do -------------------------------------------------------------------------


def _comparable(view: dict[str, Any], sku: str, number: str) -> str:
    """An order's API view with what must differ (its number, SKU, ids, times) taken out."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in {"id", "expires_at"}}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(view), sort_keys=True).replace(sku, "SKU").replace(number, "N")


async def test_a_backorder_is_created_exactly_as_through_the_api(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    with committed_db.session() as session:
        for sku in ("TEA", "POT"):
            f.product(session, sku, stock=1, eta=ETA, discount_percent=10)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    by_api = {
        "number": "A-1",
        "placed_at": "2026-11-02T09:59:00Z",
        "customer": {"name": "Ada Lovelace", "phone": h.PHONE, "locale": "en"},
        "lines": [{"sku": "TEA", "quantity": 3}],
    }
    assert (await feed.post("/api/orders", json=by_api, headers=auth)).status_code == 201
    assert outcomes(await send(feed, [h.order("F-1", [("POT", 3)])])) == ["applied"]

    api_view = (await feed.get("/api/orders/A-1", headers=auth)).json()
    feed_view = (await feed.get("/api/orders/F-1", headers=auth)).json()
    assert api_view["lines"][0]["open_offer"] is not None  # a real backorder, with its offer
    assert _comparable(feed_view, "POT", "F-1") == _comparable(api_view, "TEA", "A-1")
    with committed_db.read_session() as session:
        kinds = {
            number: sorted(
                session.scalars(
                    select(DomainEvent.kind)
                    .join(Order, Order.id == DomainEvent.order_id)
                    .where(Order.number == number)
                )
            )
            for number in ("A-1", "F-1")
        }
        assert kinds["A-1"] == kinds["F-1"]
        assert session.scalar(select(func.count()).select_from(Customer)) == 1  # same phone


async def test_a_stock_count_allocates_the_oldest_waiting_orders_first(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    products(committed_db, TEA=0)
    placed = [
        h.order(
            f"W-{n}", [("TEA", 2)], placed_at=f"2026-11-0{n}T09:00:00Z", phone=f"+1415555012{n}"
        )
        for n in (3, 1, 2)  # sent newest first: the placing time decides, not the arrival
    ]
    assert outcomes(await send(feed, placed)) == ["applied"] * 3
    assert outcomes(await send(feed, [h.stock("TEA", 3)])) == ["applied"]
    assert lines(committed_db, "W-1") == [("TEA", 2, 0, LineStatus.ALLOCATED)]
    assert lines(committed_db, "W-2") == [("TEA", 1, 1, LineStatus.BACKORDERED)]
    assert lines(committed_db, "W-3") == [("TEA", 0, 2, LineStatus.BACKORDERED)]


async def test_a_stock_count_older_than_the_one_held_changes_nothing(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    products(committed_db, TEA=0)
    newer = h.stock("TEA", 7, occurred_at="2026-11-03T12:00:00Z")
    older = h.stock("TEA", 2, occurred_at="2026-11-03T11:00:00Z")
    answer = await send(feed, [newer, older])
    assert outcomes(answer) == ["applied", "stale"]
    assert "older than what we hold" in answer.json()["results"][1]["reason"]
    with committed_db.read_session() as session:
        assert session.scalar(select(Product.stock_on_hand)) == 7


async def test_a_cancellation_cancels_the_open_lines_with_their_refund(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    products(committed_db, TEA=0, POT=5)
    await send(feed, [h.order("W-1", [("TEA", 1), ("POT", 1)])])
    answer = await send(feed, [h.cancellation("W-1", skus=["TEA"])])
    assert outcomes(answer) == ["applied"]
    assert [row[3] for row in lines(committed_db, "W-1")] == [
        LineStatus.CANCELLED,
        LineStatus.ALLOCATED,
    ]
    assert count(committed_db, Refund) == 1
    with committed_db.read_session() as session:
        assert (
            session.scalar(select(func.count()).select_from(Offer).where(Offer.status == "open"))
            == 0
        )


async def test_an_order_event_older_than_its_cancellation_changes_nothing(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    products(committed_db, TEA=5)
    first = h.order("W-1", [("TEA", 1)], occurred_at="2026-11-02T10:00:00Z")
    await send(feed, [first, h.cancellation("W-1", occurred_at="2026-11-02T11:00:00Z")])
    late = h.order("W-1", [("TEA", 1)], occurred_at="2026-11-02T10:30:00Z")
    assert outcomes(await send(feed, [late])) == ["stale"]
    assert [row[3] for row in lines(committed_db, "W-1")] == [LineStatus.CANCELLED]


async def test_a_shipment_ships_the_order_with_its_tracking_once(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    products(committed_db, TEA=5)
    await send(feed, [h.order("W-1", [("TEA", 2)])])
    event = h.shipment(
        "W-1", carrier="UPS", tracking="1Z999AA10123456784", tracking_url="https://ups.example/t"
    )
    assert outcomes(await send(feed, [event])) == ["applied"]
    assert outcomes(await send(feed, [event])) == ["duplicate"]
    with committed_db.read_session() as session:
        shipment = session.scalars(select(Shipment)).one()
        assert (shipment.carrier, shipment.tracking_number) == ("UPS", "1Z999AA10123456784")
    assert lines(committed_db, "W-1") == [("TEA", 2, 0, LineStatus.SHIPPED)]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (h.order("W-1", [("TEA", 1), ("NOPE", 1)]), "unknown SKU: NOPE"),
        (h.order("W-1", [("TEA", 1)], currency="EUR"), "order in EUR; TEA is sold here in USD"),
        (h.order("W-1", [("TEA", 1)], phone=None), "the customer has no phone number"),
        (h.order("W-1", [("TEA", 1)], phone="12"), "phone"),
        (h.stock("NOPE", 3), "unknown SKU: NOPE"),
        (h.cancellation("W-404"), "W-404"),
        ({"id": "evt-x", "type": "refund", "occurred_at": "2026-11-02T10:00:00Z"}, "unreadable"),
        (h.stock("TEA", 3, occurred_at="2099-01-01T00:00:00Z"), "in the future"),
        ({**h.cancellation("W-1"), "skus": []}, "unreadable"),
    ],
    ids=[
        "sku",
        "currency",
        "no-phone",
        "bad-phone",
        "stock-sku",
        "unknown-order",
        "type",
        "future",
        "no-skus",
    ],
)
async def test_a_refused_event_writes_nothing_and_records_why(
    committed_db: Database, feed: httpx.AsyncClient, event: dict[str, Any], reason: str
) -> None:
    products(committed_db, TEA=5)
    answer = await send(feed, [event])
    assert outcomes(answer) == ["refused"]
    assert reason in answer.json()["results"][0]["reason"]
    for model in (Order, OrderLine, Customer, DomainEvent):
        assert count(committed_db, model) == 0
    [recorded] = refused_events(committed_db)
    assert recorded.event_id == event["id"]
    assert recorded.outcome is FeedOutcome.REFUSED
    assert recorded.reason is not None
    assert reason in recorded.reason
    # A refusal is final for that id: the same event again is a repeat, not a second try.
    assert outcomes(await send(feed, [event])) == ["duplicate"]


async def test_one_refused_event_does_not_stop_the_others(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    products(committed_db, TEA=5)
    answer = await send(feed, [h.stock("NOPE", 1), h.order("W-1", [("TEA", 1)])])
    assert outcomes(answer) == ["refused", "applied"]
    assert count(committed_db, Order) == 1


async def test_a_shipment_listing_its_lines_ships_each_of_them_once(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    """Each SKU of a listed shipment ships under a key of its own: one shared key would make
    the second SKU's shipment a "different request" and refuse it."""
    products(committed_db, TEA=5, POT=5)
    await send(feed, [h.order("W-1", [("TEA", 2), ("POT", 1)])])
    event = h.shipment("W-1", lines=[{"sku": "TEA", "quantity": 2}, {"sku": "POT", "quantity": 1}])
    assert outcomes(await send(feed, [event])) == ["applied"]
    assert outcomes(await send(feed, [event])) == ["duplicate"]
    assert count(committed_db, Shipment) == 2
    assert [row[3] for row in lines(committed_db, "W-1")] == [LineStatus.SHIPPED] * 2


async def test_a_shipment_refused_in_part_ships_nothing(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    products(committed_db, TEA=5, POT=5)
    await send(feed, [h.order("W-1", [("TEA", 1), ("POT", 1)])])
    event = h.shipment("W-1", lines=[{"sku": "POT", "quantity": 1}, {"sku": "TEA", "quantity": 3}])
    answer = await send(feed, [event])  # POT is shipped first, then TEA cannot be
    assert outcomes(answer) == ["refused"]
    assert count(committed_db, Shipment) == 0
    assert [row[3] for row in lines(committed_db, "W-1")] == [LineStatus.ALLOCATED] * 2


async def test_an_order_number_placed_with_other_lines_is_refused_without_a_new_customer(
    committed_db: Database, feed: httpx.AsyncClient
) -> None:
    products(committed_db, TEA=5)
    await send(feed, [h.order("W-1", [("TEA", 1)], occurred_at="2026-11-02T10:00:00Z")])
    other = h.order("W-1", [("TEA", 4)], occurred_at="2026-11-02T10:05:00Z", phone="+14155550177")
    answer = await send(feed, [other])
    assert outcomes(answer) == ["refused"]
    assert "different content" in answer.json()["results"][0]["reason"]
    assert count(committed_db, Customer) == 1  # the second phone's customer was rolled back
    assert lines(committed_db, "W-1") == [("TEA", 1, 0, LineStatus.ALLOCATED)]
