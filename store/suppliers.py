"""Supplier contacts: where the shop asks for dates, in which language and time zone.

Every writer (catalog CSV, JSON API, dashboard) goes through :func:`check_contact` first, so a
bad e-mail or zone is refused with a message naming it and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.customers import check_timezone, normalize_locale, normalize_phone
from store.errors import InvalidInput, NotFound
from store.models import Supplier
from store.tables_suppliers import SupplierRequest

# Deliberately simple: one @, no spaces, a dot in the domain. What a supplier's mail server
# accepts is for it to say (a 5xx is a dead letter); this catches typos and pasted names.
_EMAIL = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]{2,}")
EMAIL_MAX = 254  # RFC 5321's limit on a path


@dataclass(frozen=True, slots=True)
class ContactData:
    """A supplier's contact as given; ``None`` keeps the stored value, "" clears it."""

    email: str | None = None
    phone: str | None = None
    telegram_chat_id: int | None = None
    locale: str | None = None
    timezone: str | None = None


def check_email(raw: str) -> str:
    text = raw.strip()
    if len(text) > EMAIL_MAX or not _EMAIL.fullmatch(text):
        raise InvalidInput(
            f"e-mail {raw!r} is not an address such as orders@supplier.example", field="email"
        )
    return text


def check_contact(data: ContactData, default_region: str | None = None) -> ContactData:
    """The contact normalised, or ``InvalidInput`` naming the first bad field."""
    email = data.email
    if email is not None and email.strip():
        email = check_email(email)
    phone = data.phone
    if phone is not None and phone.strip():
        try:
            phone = normalize_phone(phone, default_region)
        except InvalidInput as exc:
            raise InvalidInput(str(exc), field="phone") from None
    locale = data.locale
    if locale is not None:
        try:
            locale = normalize_locale(locale)
        except InvalidInput as exc:
            raise InvalidInput(str(exc), field="locale") from None
    zone = data.timezone
    if zone is not None:
        try:
            zone = check_timezone(zone)
        except InvalidInput as exc:
            raise InvalidInput(str(exc), field="timezone") from None
    return ContactData(email, phone, data.telegram_chat_id, locale, zone)


def apply_contact(supplier: Supplier, data: ContactData) -> None:
    """Write an already checked contact: ``None`` keeps, "" clears."""
    if data.email is not None:
        supplier.email = data.email or None
    if data.phone is not None:
        supplier.phone = data.phone or None
    if data.telegram_chat_id is not None:
        supplier.telegram_chat_id = data.telegram_chat_id
    if data.locale is not None:
        supplier.locale = data.locale
    if data.timezone is not None:
        supplier.timezone = data.timezone


def set_contact(
    session: Session, name: str, data: ContactData, *, default_region: str | None = None
) -> Supplier:
    """Set the contact of the supplier called ``name`` (``NotFound`` if there is none)."""
    checked = check_contact(data, default_region)
    supplier = session.scalars(select(Supplier).where(Supplier.name == name)).first()
    if supplier is None:
        raise NotFound(f"unknown supplier {name!r}")
    apply_contact(supplier, checked)
    session.flush()
    return supplier


def supplier_record(supplier: Supplier, open_request: SupplierRequest | None) -> dict[str, Any]:
    return {
        "id": supplier.id,
        "name": supplier.name,
        "email": supplier.email,
        "phone": supplier.phone,
        "telegram_chat_id": supplier.telegram_chat_id,
        "locale": supplier.locale,
        "timezone": supplier.timezone,
        "open_request": None
        if open_request is None
        else {
            "id": open_request.id,
            "asked_at": open_request.created_at.isoformat(),
            "reminded_at": _iso(open_request.reminded_at),
            "escalated_at": _iso(open_request.escalated_at),
            "expires_at": open_request.expires_at.isoformat(),
        },
    }


def supplier_records(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    """Every supplier with its contact and open request (if any), by name."""
    open_requests = {
        r.supplier_id: r
        for r in session.scalars(
            select(SupplierRequest)
            .where(
                SupplierRequest.answered_at.is_(None),
                SupplierRequest.revoked_at.is_(None),
                SupplierRequest.expires_at > now,
            )
            .order_by(SupplierRequest.id)
        )
    }
    suppliers = session.scalars(select(Supplier).order_by(Supplier.name))
    return [supplier_record(s, open_requests.get(s.id)) for s in suppliers]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
