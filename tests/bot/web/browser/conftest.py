"""A real browser against the real app: uvicorn on 127.0.0.1 in a thread, on the test database.

Needs Debian's Chromium (``apt-get install chromium``) and the ``playwright`` Python package,
driving that system browser (``playwright install`` is never needed); without either the tests
skip and say which is missing. Screenshots go to ``TEST_ARTIFACTS_DIR``, else ``tests/artifacts/``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from bot import wiring
from bot.settings import Settings
from bot.web import create_app
from store.db import Database

CHROMIUM = Path("/usr/bin/chromium")
# CI sets this: there a missing browser must fail the run, not quietly skip its tests.
REQUIRED = bool(os.environ.get("REQUIRE_BROWSER"))
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR") or Path(__file__).parents[3] / "artifacts")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium (Debian's package)")


def browser_or_skip() -> Any:
    """Playwright's sync API, after checking that the system Chromium is there.

    Skips (or, with ``REQUIRE_BROWSER`` set, fails) saying what is missing.
    """
    missing = None
    if not CHROMIUM.exists():
        missing = f"needs Debian's Chromium at {CHROMIUM}: apt-get install chromium"
    try:
        from playwright import sync_api
    except ImportError:
        missing = missing or "needs the playwright package: pip install playwright"
    if missing is not None:
        if REQUIRED:
            pytest.fail(missing)
        pytest.skip(missing)
    return sync_api


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """A socket bound to a free port on 127.0.0.1, handed to uvicorn (no race for the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    with sock:
        yield sock


@pytest.fixture
def live_settings(
    listening: socket.socket, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env
    port = listening.getsockname()[1]
    return Settings(  # type: ignore[call-arg]
        public_base_url=f"http://127.0.0.1:{port}",
        order_link_secret="browser-test-order-link-secret",
        shop_name="Casa Verde",
        support_contact="help@casa-verde.example",
    )


@contextlib.contextmanager
def serving(app: FastAPI, sock: socket.socket, *, lifespan: str = "off") -> Iterator[str]:
    """uvicorn serving ``app`` on ``sock`` in a thread; yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def live_server(
    committed_db: Database, live_settings: Settings, listening: socket.socket
) -> Iterator[str]:
    """The real app served by uvicorn; yields its base URL."""
    with serving(create_app(live_settings, committed_db), listening) as base:
        assert base == live_settings.public_base_url
        yield base


@pytest.fixture
def sandbox_log(tmp_path: Path) -> Path:
    return tmp_path / "sandbox.jsonl"


@pytest.fixture
def sandbox_server(
    committed_db: Database,
    listening: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sandbox_log: Path,
) -> Iterator[str]:
    """``serve`` in sandbox mode: the app, the sandbox Telegram bot and the dispatcher, with
    quiet hours off and the SMS limit raised, so a test does not wait on either."""
    monkeypatch.chdir(tmp_path)
    settings = Settings(  # type: ignore[call-arg]
        sandbox_log=str(sandbox_log),
        quiet_hours_start="00:00",
        quiet_hours_end="00:00",
        sms_rate_per_second=20.0,
    )
    assert settings.sandbox

    @contextlib.asynccontextmanager
    async def dispatcher(_app: FastAPI) -> AsyncIterator[None]:
        async with wiring.running_dispatcher(settings, committed_db):
            yield

    app = create_app(settings, committed_db, lifespan_hooks=[dispatcher])
    with serving(app, listening, lifespan="on") as base:
        yield base
