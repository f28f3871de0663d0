"""A dispatcher process with the knobs ``backorder-bot dispatch`` does not expose, for fault tests.

Built from the environment exactly as the CLI builds it (``bot.wiring``: real channels, rate
limiters, quiet hours), then the lease, the concurrency and the worker id are overridden: a
crash test needs a lease of seconds, not minutes, to see a dead worker's rows recovered.
SIGTERM and SIGINT stop it cleanly, as they stop the CLI. Prints one JSON line of outcomes::

    python -m tests.messaging.dispatch_worker --lease-seconds 3 --concurrency 20 [--once]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import signal
import sys

from bot import wiring
from bot.settings import load_settings
from messaging.dispatcher import Dispatcher
from store.db import Database


async def _dispatch(args: argparse.Namespace) -> dict[str, object]:
    settings = load_settings()
    db = Database(settings.database_url)
    channels = wiring.build_channels(settings)
    config = dataclasses.replace(
        wiring.dispatch_config(settings),
        lease=dt.timedelta(seconds=args.lease_seconds),
        concurrency=args.concurrency,
    )
    if args.worker_id:
        config = dataclasses.replace(config, worker_id=args.worker_id)
    dispatcher = Dispatcher(
        db, channels, wiring.build_limiters(settings, settings.dispatch_workers), config
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, dispatcher.stop)
    try:
        stats = await (dispatcher.run_once() if args.once else dispatcher.run())
    finally:
        for channel in channels.values():
            await channel.close()
        db.dispose()
    return {"worker": dispatcher.worker_id, "outcomes": dict(stats.outcomes)}


def main(argv: list[str] | None = None) -> None:
    """Run one dispatcher until it has drained the outbox (``--once``) or is stopped."""
    parser = argparse.ArgumentParser(description="a dispatcher with a configurable lease")
    parser.add_argument("--lease-seconds", type=float, required=True)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_dispatch(args))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
