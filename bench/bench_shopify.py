"""Shopify ``orders/create`` webhooks ingested per second by the real app, each applied once.

The real app (``bot.web.create_app``) is served by uvicorn in a process of its own on 127.0.0.1,
on a fresh database (a SQLite file under ``var/bench/``, or ``--database-url``) migrated to head
with 20 products, half of them out of stock, so that about half the orders' lines are backorders
(each with its offer and ``backordered`` event, as the API writes them). The client (this
process, aiohttp, ``--concurrency`` connections) posts ``-n`` distinct signed ``orders/create``
webhooks (Shopify's documented sample payload, one new order id, name, customer phone and line
each) and, with ``--duplicates``, re-sends that share of them under the same webhook id, shuffled
in (``--customers K``: the orders come from K customers, so that new customers' first orders
arrive at once and race to create them). Then it checks: every answer 200, one
``shopify_webhooks`` row and one order per distinct webhook, every repeat answered
``duplicate``; and prints the rate (distinct webhooks/s over the whole run, wall clock) with
p50/p99 latency.

Since the machine may be shared, it also prints the server process's CPU time per webhook and,
as the floor measured in the same run on the same server, its CPU per request for as many
requests with a wrong signature (answered 401 before any database work: the HTTP stack, the
body read and the HMAC check); with the load average. The target (issue 15): >= 300 distinct
webhooks/s on one process; PASS/MISS on the wall-clock rate, and the rate the server's CPU time
alone would allow (1 / CPU per webhook) beside it.

    .venv/bin/python bench/bench_shopify.py -n 2000 [--concurrency 16] [--duplicates 0.1]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_shopify]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.integrations.shopify.verification import expected_signature  # noqa: E402

SECRET = "shpss_bench_0123456789abcdef"
SHOP = "bench.myshopify.com"
SAMPLE = ROOT / "tests/bot/integrations/shopify/fixtures/orders_create.json"
SKUS = [f"SKU-{i:02d}" for i in range(20)]
TARGET_PER_SECOND = 300
FLOOR_REQUESTS = 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def unsigned(
    work: list[tuple[bytes, dict[str, str]]], n: int
) -> list[tuple[bytes, dict[str, str]]]:
    """The same bodies with a signature that does not match: the floor's requests."""
    return [(body, {**headers, "X-Shopify-Hmac-Sha256": "AAAA"}) for body, headers in work[:n]]


def serve(database_url: str) -> None:
    """The server process: the real app on an ephemeral port, printed as JSON."""
    import uvicorn

    from bot.settings import Settings
    from bot.web import create_app
    from bot.web.threaded import started_port
    from store.db import Database

    settings = Settings(
        database_url=database_url,
        shopify_webhook_secret=SECRET,  # type: ignore[arg-type]
        shopify_shop_domain=SHOP,
        public_base_url="https://bench.example",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="bench-token",  # type: ignore[arg-type]
        twilio_from_number="+14155550100",
    )
    db = Database(database_url)
    app = create_app(settings, db)

    async def run() -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, access_log=False, log_level="warning", backlog=2048
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        print(json.dumps({"port": await started_port(server, task)}), flush=True)
        await task

    asyncio.run(run())


def prepare(database_url: str) -> None:
    from store.catalog import ProductData, upsert_product
    from store.db import Database
    from store.migrate import upgrade
    from store.models import utcnow

    upgrade(database_url)
    db = Database(database_url)
    with db.session() as session:
        for i, sku in enumerate(SKUS):
            data = ProductData(
                sku=sku,
                name=f"Bench {sku}",
                price_cents=1999,
                category="bench",
                stock_on_hand=0 if i % 2 else 10**9,
                currency="USD",
            )
            upsert_product(session, data, utcnow())
    db.dispose()


def deliveries(
    n: int, duplicates: float, seed: int, customers: int | None = None
) -> list[tuple[bytes, dict[str, str]]]:
    sample = json.loads(SAMPLE.read_text())
    rng = random.Random(seed)
    made = []
    for i in range(n):
        order = copy.deepcopy(sample)
        sku = SKUS[i % len(SKUS)]
        item = {**order["line_items"][0], "sku": sku, "quantity": 1, "current_quantity": 1}
        order.update(id=10**12 + i, name=f"#B{i}", cancelled_at=None, line_items=[item])
        who = i % customers if customers else i  # a few customers: concurrent first orders race
        order["customer"].update(id=10**12 + who, phone=f"+1415{2000000 + who:07d}")
        body = json.dumps(order).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": expected_signature(SECRET, body),
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2026-07",
            "X-Shopify-Webhook-Id": f"bench-{seed}-{i}",
        }
        made.append((body, headers))
    made += rng.sample(made, int(n * duplicates))
    rng.shuffle(made)
    return made


async def load(
    url: str, work: list[tuple[bytes, dict[str, str]]], concurrency: int
) -> tuple[list[float], dict[str, int], float]:
    queue = list(reversed(work))
    latencies: list[float] = []
    outcomes: dict[str, int] = {}

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            body, headers = queue.pop()
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                answer = await response.json() if response.status == 200 else {}
                key = answer.get("outcome", f"http {response.status}")
            latencies.append(time.perf_counter() - start)
            outcomes[key] = outcomes.get(key, 0) + 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, outcomes, elapsed


def counts(database_url: str) -> tuple[int, int]:
    from sqlalchemy import func, select

    from store.db import Database
    from store.models import Order, ShopifyWebhook

    db = Database(database_url)
    with db.read_session() as session:
        webhooks = session.scalar(select(func.count()).select_from(ShopifyWebhook)) or 0
        orders = session.scalar(select(func.count()).select_from(Order)) or 0
    db.dispose()
    return webhooks, orders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duplicates", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--customers", type=int, help="spread the orders over this many customers")
    parser.add_argument("--database-url")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.database_url is not None:
        from bench.pg_scratch import throwaway_database

        with throwaway_database(args.database_url, "bench_shopify") as url:
            return run(args, url)
    path = ROOT / "var/bench/shopify.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return run(args, f"sqlite:///{path}")


def run(args: argparse.Namespace, database_url: str) -> int:
    """The whole measurement on a fresh database at ``database_url``."""
    prepare(database_url)
    work = deliveries(args.n, args.duplicates, args.seed, args.customers)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", database_url],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = json.loads(server.stdout.readline())["port"]
        url = f"http://127.0.0.1:{port}/webhooks/shopify"
        cpu_before = cpu_seconds(server.pid)
        latencies, outcomes, elapsed = asyncio.run(load(url, work, args.concurrency))
        cpu_run = cpu_seconds(server.pid) - cpu_before
        loadavg = Path("/proc/loadavg").read_text().split()[0]
        floor_work = unsigned(work, min(FLOOR_REQUESTS, len(work)))
        cpu_before = cpu_seconds(server.pid)
        _, floor_outcomes, floor_elapsed = asyncio.run(load(url, floor_work, args.concurrency))
        cpu_floor = (cpu_seconds(server.pid) - cpu_before) / len(floor_work)
    finally:
        server.terminate()
        server.wait(timeout=30)
    webhooks, orders = counts(database_url)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"orders/create: {args.n} distinct + {len(work) - args.n} repeats in {elapsed:.2f} s"
        f" -> {args.n / elapsed:.0f} webhooks/s ({len(work) / elapsed:.0f} requests/s),"
        f" concurrency {args.concurrency}, {database_url.split(':')[0]}"
    )
    print(
        f"latency p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99:.1f} ms;"
        f" answers {dict(sorted(outcomes.items()))}; rows: {webhooks} webhooks, {orders} orders"
    )
    ok = (
        webhooks == orders == args.n
        and outcomes.get("handled", 0) == args.n
        and outcomes.get("duplicate", 0) == len(work) - args.n
    )
    print("every webhook applied once" if ok else "MISMATCH: not every webhook applied once")
    cpu_each = cpu_run / args.n
    rate = args.n / elapsed
    print(
        f"server CPU {cpu_each * 1000:.2f} ms per distinct webhook"
        f" ({cpu_run / len(work) * 1000:.2f} ms per request;"
        f" CPU alone allows {1 / cpu_each:.0f} webhooks/s); floor, same run:"
        f" {cpu_floor * 1000:.2f} ms per refused request ({len(floor_work) / floor_elapsed:.0f}"
        f" requests/s, answers {floor_outcomes}), ratio {cpu_each / cpu_floor:.1f}x;"
        f" load average {loadavg}"
    )
    print(
        f"target >= {TARGET_PER_SECOND} webhooks/s on one process: {rate:.0f}/s wall clock"
        f" {'PASS' if rate >= TARGET_PER_SECOND else 'MISS'}, {1 / cpu_each:.0f}/s by CPU time"
        f" {'PASS' if 1 / cpu_each >= TARGET_PER_SECOND else 'MISS'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
