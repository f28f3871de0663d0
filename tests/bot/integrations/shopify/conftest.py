"""The fake Shopify Admin API on 127.0.0.1, and a client for it that records its waits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.integrations.shopify.admin_client import AdminClient
from store.db import Database
from tests.bot.integrations.shopify.fake_admin import TOKEN, VERSION, FakeAdmin, serve
from tests.bot.integrations.shopify.harness import SECRET, SHOP
from tests.bot.test_cli import cli_env  # noqa: F401 (fixture)


@pytest.fixture
def fake_admin() -> Iterator[FakeAdmin]:
    with serve(FakeAdmin()) as fake:
        yield fake
    # Every query and mutation we sent must be valid against Shopify's schema.
    assert fake.invalid == []


class Sleeps(list[float]):
    """The client's waits, recorded instead of slept; each refills the fake's bucket as if
    that time had passed."""

    def __init__(self, fake: FakeAdmin) -> None:
        super().__init__()
        self._fake = fake

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self._fake.bucket.skipped += seconds


@pytest.fixture
def sleeps(fake_admin: FakeAdmin) -> Sleeps:
    return Sleeps(fake_admin)


@pytest.fixture
def admin_client(fake_admin: FakeAdmin, sleeps: Sleeps) -> Iterator[AdminClient]:
    with AdminClient(SHOP, TOKEN, VERSION, base_url=fake_admin.base_url, sleep=sleeps) as client:
        yield client


@pytest.fixture
def shop_env(
    cli_env: Database,  # noqa: F811
    fake_admin: FakeAdmin,
    monkeypatch: pytest.MonkeyPatch,
) -> Database:
    for name, value in {
        "SHOPIFY_SHOP_DOMAIN": SHOP,
        "SHOPIFY_ADMIN_TOKEN": TOKEN,
        "SHOPIFY_API_VERSION": VERSION,
        "SHOPIFY_API_BASE_URL": fake_admin.base_url,
        "SHOPIFY_WEBHOOK_SECRET": SECRET,
        "PUBLIC_BASE_URL": "https://bot.example",
    }.items():
        monkeypatch.setenv(name, value)
    return cli_env
