"""Rendering throughput: ``render_message`` calls per second, per message, channel and locale.

Renders each common fan-out message (the ones a supplier date change or a broadcast sends to
thousands of customers) N times per run, over a pool of contexts shaped like the notifier's
(dicts, a different customer, order and product on each), and prints the median of several runs
next to the target.

Target (issue 3): 100,000 customers rendered and written to the outbox in <= 2.5 s; the writes
and the rest of the fan-out leave about 1.6 s for rendering, i.e. at least 60,000 renders/s.

    python bench/bench_render.py [--n 20000] [--runs 3] [--messages eta_changed broadcast ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from itertools import cycle, islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from messaging.render import render_message  # noqa: E402
from messaging.types import ChannelKind  # noqa: E402

TARGET_RENDERS_PER_S = 60_000.0
COMMON = ("eta_changed", "backorder_notice", "ready_to_ship", "delay_notice", "broadcast")
LOCALES = ("en", "es")
POOL = 1_000  # distinct contexts, cycled: one fan-out has as many customers as renders

NAMES = {"en": ("Mary Smith", "John Doe", ""), "es": ("María José Ríos", "Juan Pérez", "")}
PRODUCTS = {
    "en": ("Enamelled Dutch Oven 5 L", "Ultralight Tent, Forest Green, 3-Person"),
    "es": ("Olla esmaltada 5 L", "Tienda de campaña ultraligera, verde, 3 personas"),
}
BROADCAST = {
    "en": "Our warehouse is closed on Monday for the holiday; orders placed this weekend ship "
    "on Tuesday.",
    "es": "El almacén cierra el lunes por fiesta; los pedidos del fin de semana salen el martes.",
}


def contexts(locale: str, count: int) -> list[dict[str, Any]]:
    """``count`` notifier-shaped contexts with varying customers, orders and products."""
    expires = dt.datetime(2026, 11, 9, 23, 59, tzinfo=dt.UTC)
    pool = []
    for i in range(count):
        product = PRODUCTS[locale][i % 2]
        pool.append(
            {
                "shop_name": "Casa Verde",
                "support_contact": "+1 415 555 0134",
                "customer": {
                    "name": NAMES[locale][i % 3],
                    "timezone": ("America/New_York", "Europe/Madrid")[i % 2],
                },
                "order": {"number": f"N{i:07d}"},
                "line": {
                    "product_name": product,
                    "sku": "SKU-1",
                    "quantity": 1 + i % 2,
                    "backordered_quantity": 1 + i % 2,
                },
                "eta": dt.date(2026, 12, 1),
                "old_eta": dt.date(2026, 11, 20) if i % 4 else None,
                "offer": {
                    "id": 1000 + i,
                    "discount_percent": 10,
                    "alternative_name": "Cast Iron Casserole 4 L" if i % 2 else None,
                    "alternative_price_cents": 9_900 if i % 2 else None,
                    "currency": "USD" if locale == "en" else "EUR",
                    "expires_at": expires,
                    "coupon_code": None,
                    "applied_choice": None,
                    "cancels_order": i % 3 == 0,
                    "refund_cents": 12_900 * (1 + i % 2),
                    "price_minor": 12_900,
                    "discount_minor": 1_290 * (1 + i % 2),
                },
                "text": BROADCAST[locale],
            }
        )
    return pool


def measure(message: str, channel: ChannelKind, locale: str, n: int, runs: int) -> float:
    """Median renders per second over ``runs`` runs of ``n`` renders each."""
    batch = list(islice(cycle(contexts(locale, POOL)), n))
    for context in batch[:POOL]:  # warm up: template compilation and the formatting caches
        render_message(message, channel, locale, **context)
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for context in batch:
            render_message(message, channel, locale, **context)
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="renders per run")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--messages", nargs="+", default=list(COMMON))
    args = parser.parse_args()

    print(f"{'message':<18} {'channel':<9} {'locale':<6} {'renders/s':>10}  target {60_000:,}/s")
    slowest = float("inf")
    for message in args.messages:
        for channel in (ChannelKind.SMS, ChannelKind.TELEGRAM):
            for locale in LOCALES:
                rate = measure(message, channel, locale, args.n, args.runs)
                slowest = min(slowest, rate)
                verdict = "ok" if rate >= TARGET_RENDERS_PER_S else "BELOW"
                print(f"{message:<18} {channel.value:<9} {locale:<6} {rate:>10,.0f}  {verdict}")
    print(f"slowest: {slowest:,.0f} renders/s (target {TARGET_RENDERS_PER_S:,.0f})")
    return 0 if slowest >= TARGET_RENDERS_PER_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
