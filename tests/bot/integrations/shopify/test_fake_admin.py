"""The fake Shopify itself: it refuses what Shopify would, and meters cost as Shopify reports."""

from __future__ import annotations

import httpx
import pytest

from bot.integrations.shopify.admin_client import AdminClient, AdminError
from tests.bot.integrations.shopify.fake_admin import (
    TOKEN,
    VERSION,
    FakeAdmin,
    missing_scopes,
    serve,
)
from tests.bot.integrations.shopify.harness import SHOP

ORDER = "query O($id: ID!) { order(id: $id) { id name } }"


def test_a_query_the_schema_refuses_is_answered_with_errors_and_recorded() -> None:
    with serve(FakeAdmin()) as fake:
        url = f"{fake.base_url}/admin/api/{VERSION}/graphql.json"
        body = {"query": "{ order(id: 1) { nameX } }"}
        response = httpx.post(url, json=body, headers={"X-Shopify-Access-Token": TOKEN})
    assert response.status_code == 200
    assert "Cannot query field 'nameX' on type 'Order'" in response.json()["errors"][0]["message"]
    assert fake.invalid


def test_a_wrong_token_gets_401_and_the_client_calls_it_permanent(fake_admin: FakeAdmin) -> None:
    client = AdminClient(SHOP, "shpat_wrong", VERSION, base_url=fake_admin.base_url)
    with client, pytest.raises(AdminError) as caught:
        client.execute("O", ORDER, {"id": "gid://shopify/Order/1"})
    assert caught.value.permanent
    assert "SHOPIFY_ADMIN_TOKEN" in str(caught.value)
    assert "shpat_wrong" not in str(caught.value)


def test_a_token_without_the_scope_is_denied(fake_admin: FakeAdmin) -> None:
    fake_admin.tokens["shpat_readonly"] = frozenset({"read_products"})
    client = AdminClient(SHOP, "shpat_readonly", VERSION, base_url=fake_admin.base_url)
    with client, pytest.raises(AdminError, match="read_orders") as caught:
        client.execute("O", ORDER, {"id": "gid://shopify/Order/1"})
    assert caught.value.permanent
    assert fake_admin.outcomes("order") == ["denied"]


def test_scope_texts_are_read_as_shopify_writes_them() -> None:
    text = "`write_orders` access scope or `write_marketplace_orders` access scope. Also: `x_y`."
    assert missing_scopes(text, frozenset({"write_marketplace_orders"})) == []
    assert missing_scopes(text, frozenset()) == ["write_orders", "write_marketplace_orders"]
    assert missing_scopes("Requires `write_order_edits` access scope.", frozenset()) == [
        "write_order_edits"
    ]
    both = "`read_markets` as well as `write_markets` access scopes."
    assert missing_scopes(both, frozenset({"read_markets"})) == ["write_markets"]


def test_answers_carry_the_cost_and_the_bucket(fake_admin: FakeAdmin) -> None:
    fake_admin.shop.add_order(5, [("TEA", 1)])
    url = f"{fake_admin.base_url}/admin/api/{VERSION}/graphql.json"
    body = {"query": ORDER, "variables": {"id": "gid://shopify/Order/5"}}
    answer = httpx.post(url, json=body, headers={"X-Shopify-Access-Token": TOKEN}).json()
    assert answer["data"]["order"] == {"id": "gid://shopify/Order/5", "name": "#5"}
    cost = answer["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 1
    assert cost["actualQueryCost"] == 1
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 1000.0
    assert status["restoreRate"] == 50.0
    assert 998 <= status["currentlyAvailable"] <= 1000


def test_a_connection_costs_two_plus_first_times_its_nodes(fake_admin: FakeAdmin) -> None:
    fake_admin.shop.add_order(5, [("TEA", 1)])
    query = "query O($id: ID!) { order(id: $id) { id lineItems(first: 20) { nodes { id } } } }"
    with AdminClient(SHOP, TOKEN, VERSION, base_url=fake_admin.base_url) as client:
        client.execute("O", query, {"id": "gid://shopify/Order/5"})
    assert fake_admin.calls[-1].cost == 1 + 2 + 20


def test_another_api_version_is_not_found(fake_admin: FakeAdmin) -> None:
    client = AdminClient(SHOP, TOKEN, "2025-01", base_url=fake_admin.base_url)
    with client, pytest.raises(AdminError, match="404"):
        client.execute("O", ORDER, {"id": "gid://shopify/Order/1"})
