"""``orders/create`` deliveries that arrive together share one transaction, and stay separate.

``ShopifyIngest.handle_batch`` is what the group commit runs for a batch; these tests give it
batches directly (which deliveries end up together in the running app depends on timing), and
one test posts the same webhook five times at once to one server, where they do get batched.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bot.integrations.shopify import ingest as ingest_module
from bot.integrations.shopify import topics
from bot.integrations.shopify.group_commit import GroupCommit
from bot.integrations.shopify.ingest import Delivery, Ingested, ShopifyIngest
from bot.integrations.shopify.topics import Config
from bot.web import create_app
from bot.web.threaded import serving_in_thread
from store.db import Database
from store.models import (
    Customer,
    DomainEvent,
    Order,
    OrderLine,
    ShopifyOutcome,
    ShopifyWebhook,
)
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.bot.integrations.shopify import harness as h


def delivery(webhook_id: str, payload: dict[str, Any]) -> Delivery:
    return Delivery(webhook_id, "orders/create", h.SHOP, payload)


def order(i: int, sku: str = "TEA", quantity: int = 1) -> dict[str, Any]:
    return h.order([(sku, quantity)], shopify_id=10**12 + i, name=f"#G{i}")


def count(db: Database, model: Any) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def outcomes(results: list[Ingested | BaseException]) -> list[str]:
    assert all(isinstance(r, Ingested) for r in results), results
    return ["duplicate" if r.duplicate else str(r.outcome) for r in results]  # type: ignore[union-attr]


@pytest.fixture
def ingest(committed_db: Database) -> ShopifyIngest:
    with committed_db.session() as session:
        f.product(session, "TEA", stock=1, eta=dt.date(2026, 12, 1))
    return ShopifyIngest(committed_db, Config(policy=DEFAULT_POLICY))


def test_a_batch_applies_each_webhook_once_and_a_refusal_only_refuses_its_own(
    ingest: ShopifyIngest, committed_db: Database
) -> None:
    batch = [
        delivery("a", order(1)),
        delivery("b", order(2, sku="NOPE")),
        delivery("a", order(1)),  # the same webhook again, in the same batch
        delivery("c", order(3)),
    ]
    assert outcomes(ingest.handle_batch(batch)) == ["handled", "refused", "duplicate", "handled"]
    with committed_db.read_session() as session:
        rows = {r.webhook_id: r for r in session.scalars(select(ShopifyWebhook))}
        assert rows["b"].reason == "unknown SKU: NOPE"
        assert rows["b"].outcome == ShopifyOutcome.REFUSED
        assert {rows["a"].outcome, rows["c"].outcome} == {ShopifyOutcome.HANDLED}
        numbers = sorted(session.scalars(select(Order.number)))
        lines = {line.order.number: line for line in session.scalars(select(OrderLine))}
    assert numbers == ["#G1", "#G3"]
    # One unit in stock: the first order in the batch got it, the second waits for it.
    assert (lines["#G1"].allocated_quantity, lines["#G3"].backordered_quantity) == (1, 1)
    assert count(committed_db, DomainEvent) == 1  # #G3's backordered event
    assert count(committed_db, Customer) == 1  # the same customer, created once


def test_a_webhook_meeting_a_unique_violation_in_a_batch_is_applied_alone_after_it(
    ingest: ShopifyIngest, committed_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = topics.HANDLERS["orders/create"]
    calls: list[int] = []

    def racing(session: Session, payload: dict[str, Any], *args: Any) -> Any:
        calls.append(payload["id"])
        if payload["id"] == 10**12 + 2 and calls.count(payload["id"]) == 1:
            raise IntegrityError("INSERT INTO shopify_orders", {}, Exception("unique"))
        return real(session, payload, *args)

    monkeypatch.setitem(topics.HANDLERS, "orders/create", racing)
    batch = [delivery("a", order(1)), delivery("b", order(2)), delivery("c", order(3))]
    assert outcomes(ingest.handle_batch(batch)) == ["handled"] * 3
    assert calls == [10**12 + 1, 10**12 + 2, 10**12 + 3, 10**12 + 2]  # b again, alone
    assert count(committed_db, Order) == count(committed_db, ShopifyWebhook) == 3


def test_a_batch_that_fails_whole_is_rolled_back_and_each_webhook_applied_alone(
    ingest: ShopifyIngest, committed_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ingest_module.load_products
    failures: list[int] = []

    def failing_once(session: Session, skus: list[str]) -> Any:
        if not failures:
            failures.append(1)
            raise OperationalError("SELECT products", {}, Exception("database is locked"))
        return real(session, skus)

    monkeypatch.setattr(ingest_module, "load_products", failing_once)
    batch = [delivery("a", order(1)), delivery("b", order(2)), delivery("a", order(1))]
    assert outcomes(ingest.handle_batch(batch)) == ["handled", "handled", "duplicate"]
    assert failures == [1]
    assert count(committed_db, Order) == count(committed_db, ShopifyWebhook) == 2


def test_the_same_webhook_five_times_at_once_to_one_server_is_applied_once(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One server (one group commit): on SQLite the five deliveries meet in its batches, not
    only in the database as in ``test_exactly_once`` (five servers); on PostgreSQL, which is
    not batched by default, in the database."""
    monkeypatch.chdir(tmp_path)
    with committed_db.session() as session:
        f.product(session, "TEA", stock=1, eta=dt.date(2026, 12, 1))
    body, headers = h.signed(h.order([("TEA", 2)]), "orders/create")
    barrier = threading.Barrier(5)
    answers: list[httpx.Response] = []

    def post(url: str) -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            answers.append(client.post(url + "/webhooks/shopify", content=body, headers=headers))

    with contextlib.ExitStack() as stack:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        stack.callback(sock.close)
        url = stack.enter_context(
            serving_in_thread(create_app(h.settings(), committed_db), sock, lifespan="off")
        )
        threads = [threading.Thread(target=post, args=(url,)) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert sorted(a.json()["outcome"] for a in answers) == ["duplicate"] * 4 + ["handled"]
    for model in (ShopifyWebhook, Order, DomainEvent):
        assert count(committed_db, model) == 1


# --- GroupCommit ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_items_submitted_together_run_in_batches_and_each_gets_its_own_result() -> None:
    batches: list[list[int]] = []
    first = threading.Event()

    def run(items: Any) -> list[int | BaseException]:
        batches.append(list(items))
        if len(batches) == 1:
            first.wait(5)  # the others queue up behind the first batch meanwhile
        return [ValueError(i) if i == 3 else i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(run, max_batch=4)
    leader = asyncio.create_task(group.submit(0))
    while not batches:
        await asyncio.sleep(0.001)
    others = [asyncio.create_task(group.submit(i)) for i in range(1, 7)]
    await asyncio.sleep(0.05)
    first.set()
    results = await asyncio.gather(leader, *others, return_exceptions=True)

    assert batches == [[0], [1, 2, 3, 4], [5, 6]]  # capped at max_batch, in arrival order
    assert isinstance(results.pop(3), ValueError)  # an item's error is raised in its request
    assert results == [0, 10, 20, 40, 50, 60]


@pytest.mark.asyncio
async def test_a_batch_that_raises_raises_in_every_request_of_it_and_the_next_batch_runs() -> None:
    calls: list[list[str]] = []

    def run(items: Any) -> list[str]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return [item.upper() for item in items]

    group: GroupCommit[str, str] = GroupCommit(run, max_batch=8)
    first = await asyncio.gather(group.submit("a"), group.submit("b"), return_exceptions=True)
    assert [type(r) for r in first] == [RuntimeError, RuntimeError]
    assert await group.submit("c") == "C"
    assert calls == [["a", "b"], ["c"]]
