"""The catalog CSV reads prices in the currency's own units (JPY 0 decimals, KWD 3, USD 2)."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.importing.csv_import import ImportFailed, ImportKind, import_csv
from store.models import Product
from store.policy import DEFAULT_POLICY
from tests.factories import NOW

HEADER = b"sku,name,price,category,stock_on_hand,currency,alternatives\n"


def _import(session: Session, rows: bytes) -> None:
    import_csv(
        session,
        ImportKind.CATALOG,
        HEADER + rows,
        policy=DEFAULT_POLICY,
        now=NOW,
        default_region="US",
    )


def _errors(session: Session, rows: bytes) -> list[str]:
    with pytest.raises(ImportFailed) as caught:
        _import(session, rows)
    return [str(e) for e in caught.value.errors]


def _prices(session: Session) -> dict[str, tuple[int, str]]:
    return {p.sku: (p.price_cents, p.currency) for p in session.scalars(select(Product))}


def test_prices_are_stored_in_each_currencys_minor_units(session: Session) -> None:
    _import(
        session,
        b"TEA,Tea,1500,kitchen,1,JPY,\nDATES,Dates,12.5,kitchen,1,KWD,\nMUG,Mug,14.90,kitchen,1,usd,\n",
    )
    assert _prices(session) == {
        "TEA": (1500, "JPY"),
        "DATES": (12_500, "KWD"),
        "MUG": (1490, "USD"),
    }


def test_decimals_a_currency_lacks_are_reported_by_line(session: Session) -> None:
    errors = _errors(session, b"TEA,Tea,1500.5,kitchen,1,JPY,\nDATES,Dates,1.2345,kitchen,1,KWD,\n")
    assert errors == [
        "line 2: JPY has no minor unit: 1500.5",
        "line 3: KWD has 3 decimals at most: 1.2345",
    ]
    assert _prices(session) == {}


def test_an_alternative_in_another_currency_is_refused(session: Session) -> None:
    errors = _errors(session, b"TEA,Tea,1500,kitchen,0,JPY,MUG\nMUG,Mug,14.90,kitchen,5,USD,\n")
    assert errors == ["line 2: alternative MUG is priced in USD, not JPY"]
    assert _prices(session) == {}
