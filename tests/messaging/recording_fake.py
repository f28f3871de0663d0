"""The fake providers as a separate process that keeps what it received, for process-level tests.

``python -m tests.messaging.fake_providers`` serves without recording (it is sized for
benchmarks). The fault tests need the opposite: which message texts reached the "provider", and
how often, even after the dispatcher that sent them was killed. This runs the same
:class:`~tests.messaging.fake_providers.FakeProviders` with recording on, plus a second small
server on 127.0.0.1 that answers ``GET /requests`` with every recorded send::

    python -m tests.messaging.recording_fake --latency-ms 2000

prints one JSON line ``{"url": ..., "control": ...}``, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

from aiohttp import web

from tests.messaging.fake_providers import FakeProviders


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


async def _serve(latency: float) -> None:
    fake = FakeProviders(latency=latency, record=True)
    url = await fake.start()

    async def requests(_: web.Request) -> web.Response:
        body = {"sends": _sends(fake), "violations": fake.violations, "counts": fake.counts}
        return web.json_response(body)

    control = web.Application()
    control.router.add_get("/requests", requests)
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
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.latency_ms / 1000))


if __name__ == "__main__":
    main(sys.argv[1:])
