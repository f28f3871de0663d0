"""``customers/update`` and ``customers_marketing_consent/update``: the customer kept true here.

Which customer: the one an order from Shopify created (``external_ref`` ``shopify:<id>``), else
the one with the payload's phone number (then linked to the Shopify id for next time). A
customer we have never seen is ignored: nothing to keep true.

- phone: a new valid number replaces ours, unless another customer here has it (refused: a
  person decides); a missing or invalid one keeps ours. The SMS reach state stays as it is: a
  STOP is never undone by a webhook.
- locale: when the payload has one we speak (older payloads and the GraphQL ``Customer`` carry
  ``locale``; 2026-07's ``customers/update`` sample does not).
- SMS marketing consent: ``sms_marketing_consent`` (``customers_marketing_consent/update``, and
  ``customers/update`` before API 2025-01, when Shopify moved it to that topic). Withdrawn
  (``unsubscribed``) = opted out of marketing by SMS (``store.consent``); an update older than
  the consent held changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.integrations.shopify.mapping import Refused
from bot.integrations.shopify.topics import Applied, Config, Handler
from store.consent import parse_state, record_sms_marketing
from store.customers import find_by_phone, normalize_locale, normalize_phone
from store.errors import InvalidInput
from store.models import Customer, ShopifyOutcome

__all__ = ["CUSTOMER_HANDLERS"]


def customer_updated(
    session: Session, payload: dict[str, Any], config: Config, now: dt.datetime
) -> Applied:
    """Phone, locale and (older API versions) SMS marketing consent."""
    shopify_id = payload.get("id")
    customer = _find(session, payload, config)
    if customer is None:
        return Applied(ShopifyOutcome.IGNORED, str(shopify_id), "customer not known here")
    notes = [_phone(session, customer, payload, config), _locale(customer, payload)]
    notes.append(_consent(session, customer, payload, now))
    reason = "; ".join(n for n in notes if n) or None
    return Applied(ShopifyOutcome.HANDLED, str(shopify_id), reason)


def consent_updated(
    session: Session, payload: dict[str, Any], config: Config, now: dt.datetime
) -> Applied:
    """SMS marketing consent only."""
    shopify_id = payload.get("id")
    customer = _find(session, payload, config)
    if customer is None:
        return Applied(ShopifyOutcome.IGNORED, str(shopify_id), "customer not known here")
    return Applied(
        ShopifyOutcome.HANDLED, str(shopify_id), _consent(session, customer, payload, now)
    )


CUSTOMER_HANDLERS: dict[str, Handler] = {
    "customers/update": customer_updated,
    "customers_marketing_consent/update": consent_updated,
}


def _find(session: Session, payload: dict[str, Any], config: Config) -> Customer | None:
    shopify_id = payload.get("id")
    if not isinstance(shopify_id, int):
        raise Refused("the customer has no id")
    ref = f"shopify:{shopify_id}"
    found = session.scalars(select(Customer).where(Customer.external_ref == ref)).first()
    if found is not None:
        return found
    phone = _valid_phone(payload, config)
    found = find_by_phone(session, phone) if phone else None
    if found is not None and found.external_ref is None:
        found.external_ref = ref
    return found


def _valid_phone(payload: dict[str, Any], config: Config) -> str | None:
    raw = payload.get("phone")
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return normalize_phone(raw, config.phone_region)
    except InvalidInput:
        return None


def _phone(
    session: Session, customer: Customer, payload: dict[str, Any], config: Config
) -> str | None:
    if not payload.get("phone"):
        return None  # Shopify has none: ours is still the way to reach them
    phone = _valid_phone(payload, config)
    if phone is None:
        return "phone not valid; ours kept"
    if phone == customer.phone:
        return None
    other = find_by_phone(session, phone)
    if other is not None and other.id != customer.id:
        raise Refused(f"phone {phone[:4]}... belongs to another customer here")
    customer.phone = phone
    return None


def _locale(customer: Customer, payload: dict[str, Any]) -> str | None:
    raw = payload.get("locale")
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        customer.locale = normalize_locale(raw, customer.locale)
    except InvalidInput:
        return f"locale {raw[:16]} not spoken here; {customer.locale} kept"
    return None


def _consent(
    session: Session, customer: Customer, payload: dict[str, Any], now: dt.datetime
) -> str | None:
    consent = payload.get("sms_marketing_consent")
    if not isinstance(consent, dict) or not consent.get("state"):
        return None  # nothing said about it (2026-07's customers/update never does)
    try:
        state = parse_state(str(consent["state"]))
    except InvalidInput as exc:
        raise Refused(str(exc)) from None
    changed = record_sms_marketing(
        session,
        customer,
        state,
        now=now,
        consent_updated_at=_moment(consent.get("consent_updated_at")),
        opt_in_level=_text(consent.get("opt_in_level")),
        collected_from=_text(consent.get("consent_collected_from")),
    )
    return None if changed else "SMS marketing consent older than the one held"


def _moment(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Refused("consent_updated_at is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise Refused("consent_updated_at has no UTC offset")
    return parsed.astimezone(dt.UTC)


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None
