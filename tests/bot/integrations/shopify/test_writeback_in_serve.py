"""``serve`` works the Shopify write-back jobs in the background, and stops cleanly."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import wiring
from bot.cli import serving
from bot.integrations.shopify import writeback_loop
from bot.web.threaded import serving_in_thread
from store.db import Database
from store.models import OfferChoice
from store.tables_shopify import ShopifyJobStatus
from tests.bot.integrations.shopify import harness as h
from tests.bot.integrations.shopify.fake_admin import TOKEN, VERSION, FakeAdmin
from tests.bot.integrations.shopify.test_writeback import SHOPIFY_ID, choose, jobs, place, stock


@contextlib.asynccontextmanager
async def _no_dispatcher(_app: object) -> AsyncIterator[None]:
    yield


def _shop_settings(fake: FakeAdmin, tmp_path: Path) -> object:
    return h.settings(
        shopify_admin_token=TOKEN,
        shopify_api_version=VERSION,
        shopify_api_base_url=fake.base_url,
        # No SMS credentials: the sandbox, nothing leaves the machine.
        twilio_account_sid=None,
        twilio_auth_token=None,
        twilio_from_number=None,
        sandbox_log=str(tmp_path / "sandbox.log"),
    )


def test_serve_writes_a_choice_back_to_shopify_without_the_cli(
    committed_db: Database,
    fake_admin: FakeAdmin,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    # The dispatcher has its own tests; here it would only add noise.
    monkeypatch.setattr(wiring, "dispatcher_lifespan", lambda *_: _no_dispatcher)
    monkeypatch.setattr(writeback_loop, "POLL_S", 0.05)
    stock(committed_db, TEA=0)
    place(committed_db, fake_admin, [("TEA", 1)])
    choose(committed_db, OfferChoice.WAIT)
    settings = _shop_settings(fake_admin, tmp_path)
    config = serving._config(settings, committed_db, "127.0.0.1", 0, True)  # type: ignore[arg-type]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    with serving_in_thread(config.app, sock, lifespan="on"):  # type: ignore[arg-type]
        deadline = time.monotonic() + 20
        while any(j.status != ShopifyJobStatus.DONE for j in jobs(committed_db)):
            assert time.monotonic() < deadline, [j.last_error for j in jobs(committed_db)]
            time.sleep(0.05)
    sock.close()
    assert fake_admin.shop.order(SHOPIFY_ID).tags == ["backorder-wait"]
    assert len(fake_admin.shop.discounts) == 1
    # Stopped cleanly: no write-back thread or task left behind.
    assert not [t for t in threading.enumerate() if "writeback" in t.name]


def test_serve_without_shopify_runs_no_writeback(tmp_path: Path) -> None:
    settings = h.settings(shopify_admin_token=None)
    assert not writeback_loop.shopify_configured(settings)
    settings = h.settings(shopify_admin_token=TOKEN)
    assert writeback_loop.shopify_configured(settings)
