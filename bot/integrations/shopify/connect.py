"""Connecting a shop: the token's scopes checked, the webhook subscriptions registered.

Safe to run again: a topic already subscribed to our address is left as it is. The scopes are
those the app uses (``REQUIRED_SCOPES``, each with why); a token missing one is reported before
anything is registered, so a shop fixes the custom app's configuration first.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.integrations.shopify.admin_client import AdminClient, AdminError, user_errors
from bot.settings import Settings

__all__ = [
    "REQUIRED_SCOPES",
    "TOPICS",
    "Registered",
    "admin_client",
    "missing_scopes",
    "register_webhooks",
]

# What each scope is for; Shopify's write_* scopes include the matching read_*.
REQUIRED_SCOPES = {
    "read_products": "products, variants and SKUs (products/update)",
    "read_inventory": "stock levels (inventory_levels/update)",
    "write_orders": "orders in, the customer's choice written to the order, cancellations",
    "write_order_edits": "a switch to another product edits the order",
    "write_discounts": "the wait coupon becomes a discount code",
    "read_customers": "the customer a discount code is for; phone, locale, SMS consent",
}
IMPLIED = {"write_orders": "read_orders", "write_discounts": "read_discounts"}
# The topics ``topics`` and ``customer_topics`` act on (GraphQL enum spelling).
TOPICS = (
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
    "ORDERS_CANCELLED",
    "FULFILLMENTS_CREATE",
    "PRODUCTS_UPDATE",
    "INVENTORY_LEVELS_UPDATE",
    "CUSTOMERS_UPDATE",
    "CUSTOMERS_MARKETING_CONSENT_UPDATE",
    "APP_UNINSTALLED",
)
SCOPES = "query Scopes { currentAppInstallation { accessScopes { handle } } }"
SUBSCRIPTIONS = """
query Subscriptions { webhookSubscriptions(first: 100) { nodes { id topic uri } } }
"""
SUBSCRIBE = """
mutation Subscribe($topic: WebhookSubscriptionTopic!, $uri: String!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri, format: JSON}) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}"""


@dataclass(frozen=True, slots=True)
class Registered:
    topic: str
    outcome: str  # "created" | "already there" | "refused: <why>"


def admin_client(settings: Settings) -> AdminClient:
    """The Admin API client the settings describe; ``ValueError`` naming what is missing."""
    missing = [
        name
        for name, value in (
            ("SHOPIFY_SHOP_DOMAIN", settings.shopify_shop_domain),
            ("SHOPIFY_ADMIN_TOKEN", settings.shopify_admin_token),
        )
        if not value
    ]
    if missing:
        raise ValueError(f"set {' and '.join(missing)} to write back to Shopify")
    assert settings.shopify_shop_domain is not None
    assert settings.shopify_admin_token is not None
    return AdminClient(
        settings.shopify_shop_domain,
        settings.shopify_admin_token.get_secret_value(),
        settings.shopify_api_version,
        base_url=settings.shopify_api_base_url,
    )


def missing_scopes(client: AdminClient) -> tuple[list[str], list[str]]:
    """The token's scopes, and those the app needs that it lacks."""
    data = client.execute("Scopes", SCOPES)
    granted = sorted(s["handle"] for s in data["currentAppInstallation"]["accessScopes"])
    have = set(granted) | {IMPLIED[s] for s in granted if s in IMPLIED}
    return granted, [s for s in REQUIRED_SCOPES if s not in have]


def register_webhooks(client: AdminClient, uri: str) -> list[Registered]:
    """Subscribe each topic to ``uri``, unless it already is."""
    nodes = client.execute("Subscriptions", SUBSCRIPTIONS)["webhookSubscriptions"]["nodes"]
    existing = {(n["topic"], n["uri"]) for n in nodes}
    results = []
    for topic in TOPICS:
        if (topic, uri) in existing:
            results.append(Registered(topic, "already there"))
            continue
        try:
            data = client.execute("Subscribe", SUBSCRIBE, {"topic": topic, "uri": uri})
        except AdminError as exc:
            results.append(Registered(topic, f"refused: {exc}"))
            continue
        problem = user_errors(data.get("webhookSubscriptionCreate"))
        results.append(Registered(topic, f"refused: {problem}" if problem else "created"))
    return results
