"""Separate processes ingesting the same Shopify orders at once: each applied once, no oversell.

Three processes, each with its own engine, deliver the same 40 ``orders/create`` webhooks (so
every webhook arrives three times at once) in batches (the group commit, ``handle_batch``),
for one SKU with fewer units than ordered, from a few customers new to the shop. Both
databases (PostgreSQL with ``TEST_DATABASE_URL``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from store.db import Database
from store.models import (
    Customer,
    DomainEvent,
    LineStatus,
    Offer,
    Order,
    OrderLine,
    Product,
    ShopifyOutcome,
    ShopifyWebhook,
)
from tests import factories as f
from tests.bot.integrations.shopify.ingest_race_worker import CUSTOMERS, SKU, quantity
from tests.messaging.recording_fake import env_without_settings

PROCESSES = 3
WEBHOOKS = 40
STOCK = 15


def _run_workers(db: Database, tmp_path: Path) -> list[dict[str, object]]:
    barrier = tmp_path / "start"
    logs = [tmp_path / f"worker-{i}.log" for i in range(PROCESSES)]
    processes = []
    for i, log in enumerate(logs):
        command = [
            sys.executable, "-m", "tests.bot.integrations.shopify.ingest_race_worker",
            "--url", db.url, "--worker", str(i),
            "--webhooks", str(WEBHOOKS), "--barrier", str(barrier),
        ]  # fmt: skip
        with log.open("w") as out:
            processes.append(
                subprocess.Popen(
                    command, cwd=Path.cwd(), env=env_without_settings(), stdout=out, stderr=out
                )
            )
    try:
        deadline = time.monotonic() + 60
        while not all(barrier.with_name(f"start.ready.{i}").exists() for i in range(PROCESSES)):
            assert all(p.poll() is None for p in processes), [x.read_text() for x in logs]
            assert time.monotonic() < deadline, "the workers never got ready"
            time.sleep(0.01)
        barrier.with_name("start.go").touch()
        codes = [p.wait(timeout=120) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    assert codes == [0] * PROCESSES, [log.read_text() for log in logs]
    return [json.loads(log.read_text().splitlines()[-1]) for log in logs]


def test_processes_ingesting_the_same_orders_apply_each_once_and_never_oversell(
    committed_db: Database, tmp_path: Path
) -> None:
    with committed_db.session() as session:
        f.product(session, SKU, stock=STOCK)
    reports = _run_workers(committed_db, tmp_path)

    assert [r["errors"] for r in reports] == [[]] * PROCESSES
    outcomes: Counter[str] = Counter()
    for report in reports:
        outcomes.update(report["outcomes"])  # type: ignore[arg-type]
    assert outcomes == {"handled": WEBHOOKS, "duplicate": WEBHOOKS * (PROCESSES - 1)}
    ordered = sum(quantity(i) for i in range(WEBHOOKS))
    with committed_db.read_session() as session:
        rows = session.scalars(select(ShopifyWebhook)).all()
        assert len(rows) == WEBHOOKS
        assert {r.outcome for r in rows} == {ShopifyOutcome.HANDLED}
        assert session.scalar(select(func.count()).select_from(Order)) == WEBHOOKS
        assert session.scalar(select(func.count()).select_from(Customer)) == CUSTOMERS
        stock = session.scalars(select(Product.stock_on_hand).where(Product.sku == SKU)).one()
        lines = session.scalars(select(OrderLine)).all()
        allocated = sum(line.allocated_quantity for line in lines)
        backordered = sum(line.backordered_quantity for line in lines)
        waiting = [line for line in lines if line.status == LineStatus.BACKORDERED]
        offers = session.scalar(select(func.count()).select_from(Offer))
        events = session.scalar(select(func.count()).select_from(DomainEvent))
    assert (stock, allocated, backordered) == (0, STOCK, ordered - STOCK)
    assert len(lines) == WEBHOOKS
    assert offers == events == len(waiting)  # each waiting line: one offer, one event
