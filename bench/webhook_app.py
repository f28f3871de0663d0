"""The servers ``bench/bench_webhooks.py`` measures, each run by uvicorn in a process of its own.

* ``--kind bare``: a FastAPI app whose ``POST /webhooks/twilio/sms`` answers a fixed, empty
  TwiML ``<Response/>``: no body parsing, no signature, no database. The framework's ceiling.
* ``--kind app``: the real ``bot.web.create_app(settings, db)`` on a SQLite file, with Settings
  built here explicitly (no ``.env``: the process works in a temporary folder) and Telegram's
  Bot API at ``--telegram-api`` (the fake providers of tests/messaging/fake_providers.py).

Both run as ``backorder-bot serve`` runs them: one process, ``uvicorn.Server`` with lifespan on.
uvicorn binds 127.0.0.1 on a free port (port 0), and once uvicorn has started (lifespan included)
prints one JSON line ``{"port": ..., "http": ..., "loop": ...}``; SIGTERM stops it cleanly.

    python -m bench.webhook_app --kind app --db var/bench/x.db --telegram-api http://127.0.0.1:9/bot
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.responses import Response  # noqa: E402

from bench import webhook_trace  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.web.app import create_app  # noqa: E402
from bot.web.steady import steady_lifespan  # noqa: E402
from bot.web.threaded import started_port  # noqa: E402
from bot.web.workers import bind_socket, run_workers  # noqa: E402
from store.db import Database  # noqa: E402
from tests.messaging import fake_providers as fake  # noqa: E402

PUBLIC_BASE_URL = "https://bench.example"
TWILIO_ACCOUNT_SID = "AC" + "0" * 32
TWILIO_AUTH_TOKEN = "bench-twilio-auth-token-0123456789ab"
TWILIO_FROM_NUMBER = "+14155550100"
TELEGRAM_BOT_TOKEN = fake.TELEGRAM_TOKEN
TELEGRAM_WEBHOOK_SECRET = "bench-telegram-webhook-secret_0123456789"
SMS_PATH = "/webhooks/twilio/sms"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def bench_settings(database_url: str, telegram_api: str) -> Settings:
    """Every value the webhooks read, given explicitly; ``.env`` is not read."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        public_base_url=PUBLIC_BASE_URL,
        twilio_account_sid=TWILIO_ACCOUNT_SID,
        twilio_auth_token=TWILIO_AUTH_TOKEN,  # type: ignore[arg-type]
        twilio_from_number=TWILIO_FROM_NUMBER,
        telegram_bot_token=TELEGRAM_BOT_TOKEN,  # type: ignore[arg-type]
        telegram_api_base_url=telegram_api,
        telegram_webhook_secret=TELEGRAM_WEBHOOK_SECRET,  # type: ignore[arg-type]
        shop_name="Bench Shop",
        support_contact="help@bench.example",
        default_phone_region="US",
    )


def bare_app() -> FastAPI:
    """The ceiling: the same framework and route path, nothing behind it."""
    app = FastAPI()

    @app.post(SMS_PATH)
    async def sms() -> Response:
        return Response(EMPTY_TWIML, media_type="application/xml")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _serve(
    app: FastAPI, access_log: bool, db: Database | None, trace_to: Path | None = None
) -> None:
    served: Any = app
    if trace_to is not None:
        trace = webhook_trace.Trace()
        trace.install(db)
        served = trace.middleware(app, trace_to)
        trace.watcher = asyncio.create_task(trace.watch_loop())
    # Port 0: the kernel picks a free one; uvicorn binds it itself, exactly as ``serve`` does.
    config = uvicorn.Config(
        served,
        host="127.0.0.1",
        port=0,
        lifespan="on",
        access_log=access_log,
        log_level="warning",
        backlog=2048,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    port = await started_port(server, task)
    print(json.dumps({"port": port, "http": _http_impl(), "loop": _loop_impl()}), flush=True)
    try:
        await task
    finally:
        if db is not None:
            db.dispose()


def _http_impl() -> str:
    """What uvicorn's ``http="auto"`` picks: httptools when installed, else h11."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def _loop_impl() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kind", choices=["bare", "app"], required=True)
    parser.add_argument("--db", type=Path, help="the SQLite file (--kind app)")
    parser.add_argument("--database-url", help="instead of --db: e.g. a PostgreSQL URL")
    parser.add_argument("--telegram-api", help="the Bot API base URL, ending in /bot (--kind app)")
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="as `serve --workers N`")
    parser.add_argument("--untuned", action="store_true", help="without bot.web.steady")
    parser.add_argument("--trace", type=Path, help="write what slow requests waited on here")
    args = parser.parse_args(argv)
    if args.kind == "app" and (args.db is None and args.database_url is None):
        parser.error("--kind app needs --db or --database-url, and --telegram-api")
    if args.kind == "app" and args.telegram_api is None:
        parser.error("--kind app needs --telegram-api")
    if args.trace is not None:
        args.trace = args.trace.resolve()  # before the chdir below
    url = args.database_url or (f"sqlite:///{args.db.resolve()}" if args.db else "")
    with tempfile.TemporaryDirectory(prefix="bench-webhook-app-") as work:
        os.chdir(work)  # nothing the app does may depend on, or write into, the caller's folder
        if args.workers > 1:
            _run_workers(args, url)
            return
        db, app = _build(args, url)
        loop_factory = uvicorn.Config(app).get_loop_factory()
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_serve(app, args.access_log, db, args.trace))


def _build(args: argparse.Namespace, url: str) -> tuple[Database | None, FastAPI]:
    if args.kind != "app":
        return None, bare_app()
    db = Database(url)
    # As ``serve`` runs it; --untuned leaves out what keeps the process's pauses out of its
    # requests (bot.web.steady), for a before/after in one run.
    hooks = [] if args.untuned else [steady_lifespan(db)]
    return db, create_app(bench_settings(url, args.telegram_api), db, lifespan_hooks=hooks)


def _run_workers(args: argparse.Namespace, url: str) -> None:
    """``serve --workers N`` as the CLI runs it: one socket, N forked uvicorn workers."""
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    print(json.dumps({"port": port, "http": _http_impl(), "loop": _loop_impl()}), flush=True)

    def make_server(_index: int) -> uvicorn.Server:
        _db, app = _build(args, url)
        config = uvicorn.Config(
            app, lifespan="on", access_log=args.access_log, log_level="warning", backlog=2048
        )
        return uvicorn.Server(config)

    raise SystemExit(run_workers(sock, args.workers, make_server))


if __name__ == "__main__":
    main(sys.argv[1:])
