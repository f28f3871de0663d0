"""The fake Shopify Admin API on 127.0.0.1, and a client for it that records its waits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.integrations.shopify.admin_client import AdminClient
from tests.bot.integrations.shopify.fake_admin import TOKEN, VERSION, FakeAdmin, serve
from tests.bot.integrations.shopify.harness import SHOP


@pytest.fixture
def fake_admin() -> Iterator[FakeAdmin]:
    with serve(FakeAdmin()) as fake:
        yield fake
    # Every query and mutation we sent must be valid against Shopify's schema.
    assert fake.invalid == []


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def admin_client(fake_admin: FakeAdmin, sleeps: Sleeps) -> Iterator[AdminClient]:
    with AdminClient(SHOP, TOKEN, VERSION, base_url=fake_admin.base_url, sleep=sleeps) as client:
        yield client
