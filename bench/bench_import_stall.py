"""Does a big CSV import stall the SMS webhook? (issue 16)

Three processes on one SQLite file: the real web app (``bench/webhook_app.py --kind app``),
an orders import of ``--rows`` rows (``--mode chunked``: ``bot.importing.chunked``, 500-row
transactions; ``--mode single``: the old all-in-one transaction, for comparison), and this one,
sending signed Twilio SMS webhooks (a customer asking "status") at ``--rate`` per second for as
long as the import runs, one at a time, and recording each answer's latency.

The floor, measured in the same run: the same load before the import starts.
Target: the webhook's p99 during a 100,000-row import < 1 s.

    python bench/bench_import_stall.py [--rows 100000] [--mode chunked|single] [--rate 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench import webhook_app as served  # noqa: E402
from bench.bench_channels import fake_server  # noqa: E402
from bench.bench_webhooks import server  # noqa: E402
from store.db import Database  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from tests import factories as f  # noqa: E402
from tests.factories import NOW  # noqa: E402

TARGET_P99 = 1.0
CUSTOMERS = 200


def prepare(url: str, csv_path: Path, rows: int) -> list[str]:
    """Products and customers in the database, an orders file of ``rows`` rows; the phones."""
    upgrade(url)
    db = Database(url)
    phones = [f"+1415666{i:04d}" for i in range(CUSTOMERS)]
    with db.session() as session:
        f.product(session, "MUG", stock=rows * 2)
        for phone in phones:
            f.customer(session, phone=phone)
    db.dispose()
    lines = ["number,phone,sku,quantity"]
    lines += [f"B{i:07d},{phones[i % CUSTOMERS]},MUG,1" for i in range(rows)]
    csv_path.write_text("\n".join(lines) + "\n")
    return phones


def run_import(url: str, csv_path: str, mode: str, done: multiprocessing.Queue[float]) -> None:
    """In a process of its own: the import, timed."""
    from bot.importing.chunked import import_in_chunks
    from bot.importing.csv_import import ImportKind, import_csv
    from store.policy import DEFAULT_POLICY

    db = Database(url)
    started = time.perf_counter()
    if mode == "chunked":
        import_in_chunks(db, ImportKind.ORDERS, Path(csv_path), policy=DEFAULT_POLICY, now=NOW)
    else:
        with db.session() as session:
            import_csv(session, ImportKind.ORDERS, Path(csv_path), policy=DEFAULT_POLICY, now=NOW)
    done.put(time.perf_counter() - started)
    db.dispose()


def webhook_latencies(base_url: str, phones: list[str], rate: float, until: object) -> list[float]:
    """Signed SMS webhooks at ``rate``/s until ``until()`` is true; each one's seconds."""
    validator = RequestValidator(served.TWILIO_AUTH_TOKEN)
    url = served.PUBLIC_BASE_URL + served.SMS_PATH
    latencies: list[float] = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        i = 0
        while not latencies or not until():  # type: ignore[operator]
            sid = f"SM{time.time_ns():032x}"
            params = {
                "MessageSid": sid,
                "SmsSid": sid,
                "AccountSid": served.TWILIO_ACCOUNT_SID,
                "From": phones[i % len(phones)],
                "To": served.TWILIO_FROM_NUMBER,
                "Body": "status",
                "NumMedia": "0",
            }
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(url, params),
            }
            started = time.perf_counter()
            answer = client.post(served.SMS_PATH, content=urlencode(params), headers=headers)
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
            i += 1
            time.sleep(max(0.0, 1 / rate - latencies[-1]))
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--mode", choices=["chunked", "single"], default="chunked")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--floor-seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        db_path = Path(scratch) / "stall.db"
        url = f"sqlite:///{db_path}"
        csv_path = Path(scratch) / "orders.csv"
        phones = prepare(url, csv_path, args.rows)
        with ExitStack() as stack:
            fake_url = stack.enter_context(fake_server(0.0))
            argv = ["--kind", "app", "--db", str(db_path), "--telegram-api", f"{fake_url}/bot"]
            app = stack.enter_context(server("app", argv, Path(scratch) / "app.log"))
            deadline = time.monotonic() + args.floor_seconds
            floor = webhook_latencies(
                app.url, phones, args.rate, lambda: time.monotonic() > deadline
            )
            spawn = multiprocessing.get_context("spawn")
            done: multiprocessing.Queue[float] = spawn.Queue()
            importer = spawn.Process(target=run_import, args=(url, str(csv_path), args.mode, done))
            importer.start()
            during = webhook_latencies(app.url, phones, args.rate, lambda: not importer.is_alive())
            importer.join()
            import_seconds = done.get(timeout=5) if not done.empty() else float("nan")
    figure = p99(during)
    verdict = "PASS" if figure < TARGET_P99 else "MISS"
    print(f"SMS webhook during a {args.rows:,}-row orders import ({args.mode}), {args.rate:g}/s")
    print(f"  import took              {import_seconds:7.1f} s")
    print(
        f"  webhook p99 during       {figure * 1000:7.0f} ms   target < {TARGET_P99 * 1000:.0f} ms"
        f"  {verdict}   (max {max(during) * 1000:.0f} ms, {len(during)} requests)"
    )
    print(f"  webhook p99 before (floor){p99(floor) * 1000:6.0f} ms   ({len(floor)} requests)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
