"""A real browser against the real app: uvicorn on 127.0.0.1 in a thread, on the test database.

Needs Debian's Chromium (``apt-get install chromium``) and the ``playwright`` Python package,
driving that system browser (``playwright install`` is never needed); without either the tests
skip and say which is missing. Screenshots go to ``TEST_ARTIFACTS_DIR``, else ``tests/artifacts/``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from uvicorn.config import LOGGING_CONFIG

from bot import wiring
from bot.settings import Settings
from bot.web import create_app
from bot.web.threaded import serving_in_thread
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


@pytest.fixture
def live_server(
    committed_db: Database, live_settings: Settings, listening: socket.socket
) -> Iterator[str]:
    """The real app served by uvicorn; yields its base URL."""
    app = create_app(live_settings, committed_db)
    with serving_in_thread(app, listening, lifespan="off", log_config=LOGGING_CONFIG) as base:
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

    hooks = [wiring.dispatcher_lifespan(settings, committed_db)]
    app = create_app(settings, committed_db, lifespan_hooks=hooks)
    with serving_in_thread(app, listening, log_config=LOGGING_CONFIG) as base:
        yield base
