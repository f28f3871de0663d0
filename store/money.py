"""Money: amounts in the minor units of their own currency, ISO 4217 digits via Babel.

Every money column (``products.price_cents``, despite its historical name) holds an integer
count of the **minor units of that row's currency**: cents for USD (2 digits), yen for JPY
(0 digits), fils for KWD (3 digits). Until migration 0010 every parser multiplied by 100 whatever
the currency while the messages divided by the currency's own digits, so JPY 1500 was stored as
150000 and shown as "¥150,000"; that migration rescales the rows of currencies that do not have
2 digits (JPY: /100, KWD: x10).

This module is the only place that turns a decimal amount into minor units and back:

- :func:`parse_amount` reads "1500", "12.500" or "14.90" for a currency and refuses more decimals
  than the currency has (``InvalidInput("JPY has no minor unit: 1500.5")``); never rounds.
- :func:`amount_text` writes minor units back as a plain decimal string in the currency's units
  (what the API returns): ``1500`` JPY -> "1500", ``12500`` KWD -> "12.500".
- :func:`format_money` formats minor units for a locale (Babel, the currency's own digits): the
  ``money`` filter of the message templates and what the cancel wording calls.
- :func:`percent_of` is the one rounding rule for discounts: a percentage of an amount, rounded
  half-up to the currency's minor unit, never below zero nor above the amount;
  :func:`line_discount` applies it to a line (the wait coupon is a percentage of the line).

The digits are Babel's (CLDR's ``currencyData``, which follows ISO 4217 for the currencies a
shop prices in): JPY 0, KWD 3, USD 2.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision, is_currency

from store.errors import InvalidInput

__all__ = [
    "amount_text",
    "check_currency",
    "format_money",
    "line_discount",
    "minor_digits",
    "parse_amount",
    "percent_of",
]


def check_currency(currency: str) -> str:
    """The ISO 4217 code, upper-cased; an unknown one is refused (it would get 2 digits)."""
    code = currency.strip().upper()
    if not is_currency(code):
        raise InvalidInput(f"unknown currency {currency!r}: use an ISO 4217 code like USD")
    return code


@lru_cache(maxsize=256)
def minor_digits(currency: str) -> int:
    """How many decimals the currency has: JPY 0, USD 2, KWD 3."""
    return int(get_currency_precision(currency))


def parse_amount(value: str | Decimal, currency: str, *, field: str = "price") -> int:
    """A non-negative decimal amount in ``currency``'s units, as minor units of it.

    Refuses (``InvalidInput``) text that is not a number, negative or non-finite amounts, and
    more decimals than the currency has: rounding a price silently would change it.
    """
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(
            f"{field} must be a number like 12.50, got {value!r}", field=field
        ) from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInput(f"{field} must be a positive amount, got {value!r}", field=field)
    digits = minor_digits(currency)
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        raise InvalidInput(_too_many_decimals(currency, digits, amount), field=field)
    return int(minor)


def _too_many_decimals(currency: str, digits: int, amount: Decimal) -> str:
    if digits == 0:
        return f"{currency} has no minor unit: {amount}"
    return f"{currency} has {digits} decimals at most: {amount}"


def amount_text(minor: int, currency: str) -> str:
    """Minor units as a plain decimal string with the currency's digits ("12.500" for KWD)."""
    digits = minor_digits(currency)
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"


@lru_cache(maxsize=4096)
def format_money(minor: int, currency: str, locale: str = "en") -> str:
    """Minor units of ``currency`` for people, in ``locale`` (a Babel locale name, e.g. "es_MX").

    Cached: a broadcast formats the same few amounts for thousands of customers.
    """
    amount = Decimal(minor).scaleb(-minor_digits(currency))
    return format_currency(amount, currency, locale=_locale(locale))


def _locale(name: str) -> Locale:
    """Babel's locale for "es-MX" or "es_MX"; its language alone, then English, if unknown."""
    for candidate in (name.replace("-", "_"), name.replace("-", "_").split("_")[0], "en"):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")


def percent_of(minor: int, percent: int) -> int:
    """``percent``% of an amount in minor units, rounded half-up to one minor unit.

    Integer arithmetic (no float): 10% of JPY 1,005 is 101 (100.5 rounds up); 15% of KWD 0.003
    is 0 (0.00045). Clamped to [0, minor] so a discount never exceeds the amount nor goes negative.
    """
    if minor <= 0 or percent <= 0:
        return 0
    return min(minor, (minor * percent + 50) // 100)


def line_discount(unit_minor: int, quantity: int, percent: int | None) -> int:
    """The wait coupon's worth: ``percent``% of the whole line (unit price x quantity), rounded
    once, half-up, on the line total (not per unit, which would add up rounding errors)."""
    return percent_of(unit_minor * quantity, percent or 0)
