"""One process of the Shopify ingest race: its own engine, the same webhooks as every other.

Started by ``test_ingest_race.py``. Every worker delivers the same ``--webhooks`` signed-off
``orders/create`` deliveries (same webhook ids, so each webhook arrives once per process at
about the same time) in its own shuffled order, in batches of 1 to 8 through
``ShopifyIngest.handle_batch`` (the group commit's path; a batch of one is the single path).
The orders come from a few customers, new to the shop, and race for the last units of one SKU.
It says it is ready by creating ``<barrier>.ready.<worker>``, waits for ``<barrier>.go``, and
prints one JSON line: the count of each outcome and any exception's traceback::

    python -m tests.bot.integrations.shopify.ingest_race_worker --url URL --worker 0 \
        --webhooks 40 --barrier PATH
"""

from __future__ import annotations

import argparse
import json
import random
import time
import traceback
from collections import Counter
from pathlib import Path

from bot.integrations.shopify.ingest import Delivery, Ingested, ShopifyIngest
from bot.integrations.shopify.topics import Config
from store.db import Database
from store.policy import DEFAULT_POLICY
from tests.bot.integrations.shopify import harness as h

SKU = "RACE"
CUSTOMERS = 5


def quantity(i: int) -> int:
    return 1 + i % 2


def delivery(i: int) -> Delivery:
    payload = h.order(
        [(SKU, quantity(i))],
        shopify_id=10**12 + i,
        name=f"#R{i}",
        phone=f"+141555501{i % CUSTOMERS:02d}",
    )
    payload["customer"]["id"] = 10**12 + i % CUSTOMERS
    return Delivery(f"race-{i}", "orders/create", h.SHOP, payload)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--webhooks", type=int, required=True)
    parser.add_argument("--barrier", required=True)
    args = parser.parse_args()
    rng = random.Random(args.worker)
    work = [delivery(i) for i in range(args.webhooks)]
    rng.shuffle(work)
    db = Database(args.url)
    ingest = ShopifyIngest(db, Config(policy=DEFAULT_POLICY))
    barrier = Path(args.barrier)
    barrier.with_name(f"{barrier.name}.ready.{args.worker}").touch()
    while not barrier.with_name(f"{barrier.name}.go").exists():
        time.sleep(0.005)
    outcomes: Counter[str] = Counter()
    errors: list[str] = []
    while work:
        size = rng.randint(1, 8)
        batch, work = work[:size], work[size:]
        for result in ingest.handle_batch(batch):
            if isinstance(result, Ingested):
                outcomes["duplicate" if result.duplicate else str(result.outcome)] += 1
            else:
                errors.append("".join(traceback.format_exception(result)))
    db.dispose()
    print(json.dumps({"outcomes": outcomes, "errors": errors}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
