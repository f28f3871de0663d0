"""Parsing import rows: one function per file kind, each raising ``ValueError`` with a message
for people, so every bad field is reported on its line (``csv_import`` drives them)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.importing.csv_reading import Problems, Row, RowError
from store.catalog import ProductData, PurchaseLineData
from store.customers import CustomerData, check_timezone, normalize_locale, normalize_phone
from store.errors import InvalidInput
from store.models import CUSTOMER_CHANNELS, Channel
from store.money import check_currency, parse_amount

# ---- field parsers: each raises ValueError with a message for people ----


def _whole(value: str, column: str, *, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{column} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{column} must be at least {minimum}, got {number}")
    return number


def _date(value: str, column: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{column} must be a date like 2026-12-31, got {value!r}") from None


def _timestamp(value: str, column: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{column} must be ISO 8601 like 2026-11-02T14:30Z, got {value!r}"
        ) from None
    # A time without an offset is taken as UTC, as the README says.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _required(values: dict[str, str], column: str) -> str:
    value = values.get(column, "")
    if not value:
        raise ValueError(f"{column} is empty")
    return value


def _store_value(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


# ---- per-kind parsing (pure) and applying (one transaction) ----


def parse_rows(
    rows: Iterable[Row], parse: Callable[[dict[str, str]], Any], problems: Problems
) -> list[tuple[int, Any]]:
    """The rows that parse; each that does not goes to ``problems``."""
    parsed: list[tuple[int, Any]] = []
    for row in rows:
        try:
            parsed.append((row.line, parse(row.values)))
        except ValueError as exc:
            problems.add(RowError(row.line, str(exc)))
    return parsed


def parse_product(v: dict[str, str]) -> ProductData:
    alternatives = tuple(
        sku.strip() for sku in v.get("alternatives", "").replace("|", ";").split(";") if sku.strip()
    )
    discount = v.get("discount_percent", "")
    # Prices are in the row's currency units (1500 JPY, 12.500 KWD): see store/money.py.
    currency = _store_value(lambda: check_currency(v.get("currency") or "USD"))
    price = _required(v, "price")
    return ProductData(
        sku=_required(v, "sku"),
        name=_required(v, "name"),
        price_cents=_store_value(lambda: parse_amount(price, currency)),
        category=_required(v, "category"),
        stock_on_hand=_whole(_required(v, "stock_on_hand"), "stock_on_hand", minimum=0),
        supplier=v.get("supplier") or None,
        alternatives=alternatives,
        discount_percent=_whole(discount, "discount_percent", minimum=0) if discount else None,
        currency=currency,
    )


def customer_parser(default_region: str) -> Callable[[dict[str, str]], CustomerData]:
    """Empty or absent optional columns parse to ``None``: the stored value (or default) stays."""

    def parse(v: dict[str, str]) -> CustomerData:
        channel = v.get("preferred_channel", "").lower()
        if channel and channel not in {c.value for c in CUSTOMER_CHANNELS}:
            raise ValueError(f"preferred_channel must be sms or telegram, got {channel!r}")
        locale, timezone = v.get("locale", ""), v.get("timezone", "")
        return CustomerData(
            name=_required(v, "name"),
            phone=_store_value(lambda: normalize_phone(_required(v, "phone"), default_region)),
            email=v.get("email") or None,
            locale=_store_value(lambda: normalize_locale(locale)) if locale else None,
            timezone=_store_value(lambda: check_timezone(timezone)) if timezone else None,
            preferred_channel=Channel(channel) if channel else None,
            external_ref=v.get("external_id") or None,
        )

    return parse


@dataclass(frozen=True, slots=True)
class OrderRow:
    number: str
    phone: str
    sku: str
    quantity: int
    placed_at: dt.datetime | None
    customer_name: str | None


def order_parser(default_region: str) -> Callable[[dict[str, str]], OrderRow]:
    # An orders file names each customer on many rows, and phonenumbers' parse and check was
    # most of an order row's parsing (0.3 ms): each distinct spelling is read once.
    @functools.lru_cache(maxsize=4096)
    def phone(raw: str) -> str:
        return normalize_phone(raw, default_region)

    def parse(v: dict[str, str]) -> OrderRow:
        placed = v.get("placed_at", "")
        return OrderRow(
            number=_required(v, "number"),
            phone=_store_value(lambda: phone(_required(v, "phone"))),
            sku=_required(v, "sku"),
            quantity=_whole(_required(v, "quantity"), "quantity", minimum=1),
            placed_at=_timestamp(placed, "placed_at") if placed else None,
            customer_name=v.get("customer_name") or None,
        )

    return parse


@dataclass(frozen=True, slots=True)
class PurchaseRow:
    reference: str
    supplier: str
    line: PurchaseLineData


def parse_purchase(v: dict[str, str]) -> PurchaseRow:
    expected = v.get("expected_date", "")
    return PurchaseRow(
        reference=_required(v, "reference"),
        supplier=_required(v, "supplier"),
        line=PurchaseLineData(
            sku=_required(v, "sku"),
            quantity=_whole(_required(v, "quantity"), "quantity", minimum=1),
            expected_date=_date(expected, "expected_date") if expected else None,
        ),
    )
