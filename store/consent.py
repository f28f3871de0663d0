"""A customer's SMS marketing consent, as the shop's platform reports it (``tables_consent``).

Written by the Shopify ``customers/update`` and ``customers_marketing_consent/update`` webhooks.
An update whose ``consent_updated_at`` is older than the one held changes nothing (webhooks
arrive out of order). Only ``subscribed`` allows marketing by SMS; a withdrawn consent
(``unsubscribed``) is an opt-out of marketing, not of the messages about the customer's orders.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from store.errors import InvalidInput
from store.models import Customer
from store.tables_consent import MarketingState, SmsMarketingConsent

__all__ = ["may_market_by_sms", "parse_state", "record_sms_marketing"]


def parse_state(raw: str) -> MarketingState:
    """Shopify's state (``SUBSCRIBED`` or ``subscribed``) as ours; ``InvalidInput`` if unknown."""
    try:
        return MarketingState(raw.strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown SMS marketing state {raw[:40]!r}") from None


def record_sms_marketing(
    session: Session,
    customer: Customer,
    state: MarketingState,
    *,
    now: dt.datetime,
    consent_updated_at: dt.datetime | None = None,
    opt_in_level: str | None = None,
    collected_from: str | None = None,
    source: str = "shopify",
) -> bool:
    """Record the consent; False (nothing changed) when older than the one held."""
    row = session.get(SmsMarketingConsent, customer.id, with_for_update=True)
    if row is None:
        row = SmsMarketingConsent(customer_id=customer.id)
        session.add(row)
    elif (
        consent_updated_at is not None
        and row.consent_updated_at is not None
        and consent_updated_at < row.consent_updated_at
    ):
        return False
    row.state = state
    row.consent_updated_at = consent_updated_at
    row.opt_in_level = opt_in_level[:32] if opt_in_level else None
    row.collected_from = collected_from[:32] if collected_from else None
    row.source = source
    row.updated_at = now
    session.flush()
    return True


def may_market_by_sms(session: Session, customer_id: int) -> bool:
    """True only with a consent given and not withdrawn."""
    row = session.get(SmsMarketingConsent, customer_id)
    return row is not None and row.state is MarketingState.SUBSCRIBED
