"""Customers: phone numbers in E.164, locales and time zones we can serve."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from store.errors import InvalidInput
from store.models import Channel, Customer

SUPPORTED_LOCALES = ("en", "es")


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """Return the number in E.164, or raise ``InvalidInput`` saying why.

    ``default_region`` (ISO 3166 code such as "US") lets national numbers in; without it the
    number must start with "+".
    """
    text = raw.strip()
    if not text:
        raise InvalidInput("phone number is empty")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"phone number {raw!r} cannot be read ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"phone number {raw!r} is not a valid number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalize_locale(raw: str, default: str = "en") -> str:
    """Map "es-MX", "es_ES", "ES" to a supported language; refuse what we cannot speak."""
    text = raw.strip().replace("_", "-")
    if not text:
        return default
    language = text.split("-")[0].lower()
    if language not in SUPPORTED_LOCALES:
        raise InvalidInput(f"locale {raw!r} is not supported (use one of {SUPPORTED_LOCALES})")
    return text if "-" in text else language


def check_timezone(raw: str, default: str = "UTC") -> str:
    text = raw.strip() or default
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"time zone {raw!r} is not an IANA time zone name") from None
    return text


@dataclass(frozen=True, slots=True)
class CustomerData:
    """What we know of a customer. ``None`` keeps the stored value (a new customer gets the
    caller's default locale and time zone, SMS and no email)."""

    name: str
    phone: str | None = None  # already E.164
    email: str | None = None
    locale: str | None = None
    timezone: str | None = None
    preferred_channel: Channel | None = None
    external_ref: str | None = None


def upsert_customer(
    session: Session,
    data: CustomerData,
    *,
    default_locale: str = "en",
    default_timezone: str = "UTC",
) -> Customer:
    """Find the customer by external reference, else by phone; create or update them.

    An update changes only what ``data`` has; ``default_locale`` and ``default_timezone`` are
    for a new customer whose ``data`` has none.
    """
    customer = None
    if data.external_ref is not None:
        customer = session.scalars(
            select(Customer).where(Customer.external_ref == data.external_ref)
        ).first()
    if customer is None and data.phone is not None:
        customer = session.scalars(select(Customer).where(Customer.phone == data.phone)).first()
    if customer is None:
        customer = Customer(
            locale=default_locale, timezone=default_timezone, preferred_channel=Channel.SMS
        )
        session.add(customer)
    customer.name = data.name
    customer.phone = data.phone
    if data.email is not None:
        customer.email = data.email
    if data.locale is not None:
        customer.locale = data.locale
    if data.timezone is not None:
        customer.timezone = data.timezone
    if data.preferred_channel is not None:
        customer.preferred_channel = data.preferred_channel
    if data.external_ref is not None:
        customer.external_ref = data.external_ref
    return customer


# Built once, so its cache key is computed once (every inbound SMS runs this query).
_BY_PHONE = select(Customer).where(Customer.phone == bindparam("phone"))


def find_by_phone(session: Session, phone: str) -> Customer | None:
    return session.scalars(_BY_PHONE, {"phone": phone}).first()


_IDS_BY_PHONE = select(Customer.id, Customer.phone).where(
    Customer.phone.in_(bindparam("phones", expanding=True))
)
# Few enough bound values per statement for any SQLite build (older ones allow 999).
_PHONES_PER_STATEMENT = 900


def customer_ids_by_phone(session: Session, phones: Iterable[str]) -> dict[str, int]:
    """The ids of the customers with these phones, in a few statements: an import's 100,000
    rows must not cost 100,000 look-ups. Unknown phones are simply absent."""
    wanted = sorted(set(phones))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _PHONES_PER_STATEMENT):
        batch = wanted[start : start + _PHONES_PER_STATEMENT]
        rows = session.execute(_IDS_BY_PHONE, {"phones": batch})
        found.update((phone, id_) for id_, phone in rows if phone is not None)
    return found
