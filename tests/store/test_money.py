"""Money in each currency's own minor units (ISO 4217 digits via Babel: JPY 0, USD 2, KWD 3):
parsing refuses extra decimals, formatting uses the currency's digits, alternatives stay in one
currency, and discounts round half-up to one minor unit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import InvalidInput
from store.models import Product
from store.money import amount_text, format_money, parse_amount, percent_of
from store.offers import find_alternative
from store.policy import DEFAULT_POLICY
from tests import factories as f


@pytest.mark.parametrize(
    ("text", "currency", "minor", "shown"),
    [
        ("1500", "JPY", 1500, "¥1,500"),
        ("12.5", "KWD", 12_500, "KWD12.500"),
        ("14.90", "USD", 1490, "$14.90"),
    ],
)
def test_an_amount_round_trips_in_its_own_minor_units(
    text: str, currency: str, minor: int, shown: str
) -> None:
    assert parse_amount(text, currency) == minor
    assert parse_amount(amount_text(minor, currency), currency) == minor
    assert format_money(minor, currency, "en") == shown


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("1500.5", "JPY", "JPY has no minor unit: 1500.5"),
        ("12.3456", "KWD", "KWD has 3 decimals at most: 12.3456"),
        ("1.234", "USD", "USD has 2 decimals at most: 1.234"),
    ],
)
def test_more_decimals_than_the_currency_has_are_refused(
    text: str, currency: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_amount(text, currency)


def test_format_money_takes_the_customers_locale_spelling() -> None:
    assert format_money(150_000, "JPY", "es-MX") == "JPY150,000"  # no decimals, ever
    assert format_money(1490, "EUR", "es") == "14,90\xa0€"


@pytest.mark.parametrize(
    ("minor", "percent", "off"),
    [
        (1005, 10, 101),  # JPY 1,005: 100.5 yen rounds half-up to 101
        (1004, 10, 100),  # JPY 1,004: 100.4 rounds down
        (12_345, 10, 1235),  # KWD 12.345: 1.2345 rounds half-up to 1.235 (fils)
        (3, 15, 0),  # KWD 0.003: 0.00045 is less than half a fils
        (500, 100, 500),  # never more than the amount
        (0, 10, 0),
        (500, 0, 0),
    ],
)
def test_discounts_round_half_up_to_one_minor_unit(minor: int, percent: int, off: int) -> None:
    assert percent_of(minor, percent) == off


def test_an_alternative_in_another_currency_is_refused(session: Session) -> None:
    f.product(session, "YEN", stock=5, price_cents=1500, currency="JPY")
    with pytest.raises(InvalidInput, match="alternative YEN is priced in JPY, not USD"):
        f.product(session, "MUG", alternatives=("YEN",))


def test_same_category_alternatives_are_only_in_the_same_currency(session: Session) -> None:
    # 10,000 yen is "within the band" of 100.00 dollars only if currencies are ignored.
    f.product(session, "YEN", stock=5, price_cents=10_000, currency="JPY")
    mug = f.product(session, "MUG", price_cents=10_000)
    assert find_alternative(session, mug, 1, DEFAULT_POLICY) is None


def test_an_explicit_alternative_that_changed_currency_is_not_offered(session: Session) -> None:
    f.product(session, "ALT", stock=5, price_cents=10_000)
    mug = f.product(session, "MUG", price_cents=10_000, alternatives=("ALT",))
    alt = session.scalars(select(Product).where(Product.sku == "ALT")).one()
    alt.currency, alt.category = "JPY", "elsewhere"
    session.flush()
    assert find_alternative(session, mug, 1, DEFAULT_POLICY) is None


def test_product_currency_must_be_a_real_iso_code(session: Session) -> None:
    with pytest.raises(InvalidInput, match="unknown currency 'ABC'"):
        f.product(session, "MUG", currency="ABC")


@given(
    minor=st.integers(min_value=0, max_value=10**12),
    currency=st.sampled_from(["JPY", "KWD", "USD", "CLF", "EUR"]),
)
def test_what_the_api_writes_back_parses_to_the_same_minor_units(minor: int, currency: str) -> None:
    assert parse_amount(amount_text(minor, currency), currency) == minor


@given(minor=st.integers(min_value=0, max_value=10**9), percent=st.integers(0, 100))
def test_a_discount_is_never_negative_nor_more_than_the_amount(minor: int, percent: int) -> None:
    off = percent_of(minor, percent)
    assert 0 <= off <= minor
    assert abs(off * 100 - minor * percent) <= 50  # within half a minor unit
