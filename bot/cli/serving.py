"""``backorder-bot serve``: the web app under uvicorn, in one process or ``--workers N``."""

from __future__ import annotations

import uvicorn

from bot import wiring
from bot.cli.support import err
from bot.cli.support import fail as _fail
from bot.integrations.shopify.writeback_loop import shopify_configured, writeback_lifespan
from bot.settings import Settings, SettingsError
from bot.web.app import create_app
from bot.web.steady import steady_lifespan
from bot.web.workers import bind_socket, run_workers
from store.db import Database


def serve(
    settings: Settings, db: Database, *, host: str, port: int, dispatch: bool, workers: int
) -> None:
    """Serve until SIGTERM/SIGINT; exits non-zero when a worker failed."""
    if settings.sandbox:
        err.print(f"sandbox mode: nothing leaves this machine; see {settings.sandbox_log}")
    if workers == 1:
        uvicorn.Server(_config(settings, db, host, port, dispatch)).run()
        return
    if settings.sandbox:
        _fail("--workers needs real credentials: the sandbox's keys are made per process", code=2)
    _config(settings, db, host, port, dispatch)  # bad settings fail here, before any fork
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port} ({exc})", code=2)
    # No connection may cross the fork: each worker opens its own on first use.
    db.dispose()

    def make_server(index: int) -> uvicorn.Server:
        return uvicorn.Server(_config(settings, db, host, port, dispatch and index == 0))

    code = run_workers(sock, workers, make_server)
    if code:
        raise SystemExit(code)


def _config(
    settings: Settings, db: Database, host: str, port: int, dispatch: bool
) -> uvicorn.Config:
    hooks = [wiring.dispatcher_lifespan(settings, db)] if dispatch else []
    # The Shopify write-back runs where the dispatcher does (one process of ``--workers N``).
    if dispatch and shopify_configured(settings):
        hooks.append(writeback_lifespan(settings, db))
    hooks.append(steady_lifespan(db))  # last: it freezes what the others built at start-up
    try:
        web = create_app(settings, db, lifespan_hooks=hooks)
    except SettingsError as exc:
        _fail(str(exc), code=2)
    # uvicorn turns SIGTERM/SIGINT into a lifespan shutdown, which stops the dispatcher cleanly.
    # log_config=None: uvicorn's loggers propagate to ours, which scrub secrets. The prefix is
    # the app's (see create_app), not uvicorn's: uvicorn's root_path prepends it to every path,
    # doubling it when the proxy keeps it.
    return uvicorn.Config(
        web,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
