"""The fake providers as a separate process that keeps what it received, for process-level tests.

``python -m tests.messaging.fake_providers`` serves without recording (it is sized for
benchmarks). The fault tests need the opposite: which message texts reached the "provider", and
how often, even after the dispatcher that sent them was killed. This runs the same
:class:`~tests.messaging.fake_providers.FakeProviders` with recording on, plus a second small
server on 127.0.0.1 that answers ``GET /requests`` with every recorded send::

    python -m tests.messaging.recording_fake --latency-ms 2000

prints one JSON line ``{"url": ..., "control": ...}``, then serves until SIGTERM or SIGINT.

``--chaos`` turns on the fake's fault injection (:class:`~tests.messaging.fake_providers.Chaos`:
500s, 429s, timeouts, dropped connections; ``--chaos-rate``, default 10%, seeded by
``--chaos-seed``). ``GET /deliveries`` answers, compactly, how many times each text reached each
recipient and the faults injected by kind; ``POST /chaos`` with ``{"rate": r}`` changes the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

from tests.messaging.fake_providers import (
    TELEGRAM_TOKEN,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    Chaos,
    FakeProviders,
)

ROOT = Path(__file__).resolve().parents[2]
SENDER = "+15005550006"  # the shop's Twilio number in the children's settings
# Prefixes of every setting that could point a child at a real provider or change its pace.
SCRUBBED = ("TELEGRAM_", "TWILIO_", "SMS_", "QUIET_HOURS_", "DISPATCH_", "DATABASE_URL")


def env_without_settings() -> dict[str, str]:
    """This process's environment for a child: no provider settings, the checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
    env["PYTHONPATH"] = str(ROOT)
    return env


def dispatcher_env(database_url: str, fake_url: str, **extra: str) -> dict[str, str]:
    """Settings for a dispatcher process: both real channels pointed at the fake at
    ``fake_url``, no quiet hours, limits far above what the tests send; ``extra`` overrides.
    TWILIO_REGION/EDGE are scrubbed with the rest."""
    return env_without_settings() | {
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_API_BASE_URL": f"{fake_url}/bot",
        "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": SENDER,
        "TWILIO_API_BASE_URL": fake_url,
        "PUBLIC_BASE_URL": "https://shop.example.com",
        "QUIET_HOURS_START": "00:00",
        "QUIET_HOURS_END": "00:00",
        "TELEGRAM_RATE_PER_SECOND": "100000",
        "TELEGRAM_PER_CHAT_PER_SECOND": "100000",
        "SMS_RATE_PER_SECOND": "100000",
        "DISPATCH_WORKERS": "1",
        **extra,
    }


@contextlib.contextmanager
def running(log: Path, *args: str) -> Iterator[tuple[str, str]]:
    """This module in a process of its own (``args``: its options); yields (url, control).

    Its stderr goes to ``log``; whatever the caller does, the process is gone afterwards.
    """
    command = [sys.executable, "-m", "tests.messaging.recording_fake", *args]
    with log.open("w") as stderr:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env_without_settings(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, log.read_text()
        addresses = json.loads(line)
        yield addresses["url"], addresses["control"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _sends(fake: FakeProviders) -> list[dict[str, object]]:
    """Each recorded message send as provider, address and text (in arrival order)."""
    sends: list[dict[str, object]] = []
    for request in fake.requests:
        if request.provider == "telegram" and request.method == "sendMessage":
            address, text = request.fields.get("chat_id"), request.fields.get("text")
        elif request.provider == "twilio":
            address, text = request.fields.get("To"), request.fields.get("Body")
        else:
            continue
        sends.append({"provider": request.provider, "address": str(address), "text": text})
    return sends


async def _serve(latency: float, chaos: Chaos | None = None) -> None:
    fake = FakeProviders(latency=latency, record=True, chaos=chaos)
    url = await fake.start()

    async def requests(_: web.Request) -> web.Response:
        body = {"sends": _sends(fake), "violations": fake.violations, "counts": fake.counts}
        return web.json_response(body)

    async def deliveries(_: web.Request) -> web.Response:
        body = {
            "delivered": [
                {"provider": provider, "address": address, "text": text, "count": count}
                for (provider, address, text), count in fake.delivered.items()
            ],
            "faults": dict(fake.faults),
            "violations": fake.violations[:20],
            "counts": fake.counts,
        }
        return web.json_response(body)

    async def set_chaos(request: web.Request) -> web.Response:
        if fake.chaos is None:
            return web.json_response({"error": "started without --chaos"}, status=409)
        fake.chaos.rate = float((await request.json())["rate"])
        return web.json_response({"rate": fake.chaos.rate})

    control = web.Application()
    control.router.add_get("/requests", requests)
    control.router.add_get("/deliveries", deliveries)
    control.router.add_post("/chaos", set_chaos)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    control_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    print(json.dumps({"url": url, "control": control_url}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()
    await fake.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve the recording fake until interrupted."""
    parser = argparse.ArgumentParser(description="fake Telegram/Twilio that records sends")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--chaos", action="store_true", help="inject faults into sends")
    parser.add_argument("--chaos-rate", type=float, default=0.10)
    parser.add_argument("--chaos-seed", type=int, default=0)
    parser.add_argument("--chaos-stall-ms", type=float, default=5000.0)
    parser.add_argument("--chaos-retry-after", type=int, default=1)
    args = parser.parse_args(argv)
    chaos = (
        Chaos(
            rate=args.chaos_rate,
            seed=args.chaos_seed,
            stall=args.chaos_stall_ms / 1000,
            retry_after=args.chaos_retry_after,
        )
        if args.chaos
        else None
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.latency_ms / 1000, chaos))


if __name__ == "__main__":
    main(sys.argv[1:])
