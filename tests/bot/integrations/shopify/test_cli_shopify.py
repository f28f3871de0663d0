"""``backorder-bot shopify connect|jobs|retry|writeback`` against the fake Shopify."""

from __future__ import annotations

import json

import pytest

from store.db import Database
from store.models import OfferChoice
from tests.bot.integrations.shopify.fake_admin import TOKEN, FakeAdmin
from tests.bot.integrations.shopify.test_writeback import choose, place, stock
from tests.bot.test_cli import _run


def test_connect_registers_every_topic_once(shop_env: Database, fake_admin: FakeAdmin) -> None:
    first = _run("shopify", "connect")
    assert first.exit_code == 0, first.output
    assert "Connected." in first.output
    uris = {(s["topic"], s["uri"]) for s in fake_admin.shop.subscriptions}
    assert ("ORDERS_CREATE", "https://bot.example/webhooks/shopify") in uris
    assert ("CUSTOMERS_UPDATE", "https://bot.example/webhooks/shopify") in uris
    assert ("CUSTOMERS_MARKETING_CONSENT_UPDATE", "https://bot.example/webhooks/shopify") in uris
    assert len(uris) == 9
    again = _run("shopify", "connect")
    assert again.exit_code == 0
    assert "already there" in again.output
    assert len(fake_admin.shop.subscriptions) == 9
    assert TOKEN not in first.output + again.output


def test_connect_names_the_missing_scopes_and_registers_nothing(
    shop_env: Database, fake_admin: FakeAdmin
) -> None:
    fake_admin.tokens[TOKEN] = frozenset({"read_products", "write_orders"})
    result = _run("shopify", "connect")
    assert result.exit_code == 1
    assert "missing write_order_edits" in result.output
    assert "missing write_discounts" in result.output
    assert fake_admin.shop.subscriptions == []


def test_connect_without_a_token_says_what_to_set(
    shop_env: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOPIFY_ADMIN_TOKEN")
    result = _run("shopify", "connect")
    assert result.exit_code == 2
    assert "SHOPIFY_ADMIN_TOKEN" in result.output


def test_writeback_once_then_jobs_lists_them_and_a_dead_one_is_retried(
    shop_env: Database, fake_admin: FakeAdmin
) -> None:
    stock(shop_env, TEA=0)
    place(shop_env, fake_admin, [("TEA", 1)])
    choose(shop_env, OfferChoice.WAIT)
    fake_admin.fail_next("discountCodeBasicCreate", "user_errors", message="Code is too long")
    ran = _run("shopify", "writeback", "--once")
    assert ran.exit_code == 0
    assert "1 done, 0 to retry, 1 dead" in ran.output
    listed = _run("shopify", "jobs", "--status", "dead")
    assert "Code is too long" in listed.output
    (dead,) = json.loads(_run("shopify", "jobs", "--status", "dead", "--json").stdout)
    assert dead["kind"] == "discount_code"
    assert _run("shopify", "retry", str(dead["id"])).exit_code == 0
    assert _run("shopify", "retry", str(dead["id"])).exit_code == 1  # pending, not dead
    assert "1 done, 0 to retry, 0 dead" in _run("shopify", "writeback", "--once").output
    assert len(fake_admin.shop.discounts) == 1
