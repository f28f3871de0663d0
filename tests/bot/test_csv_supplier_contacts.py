"""The catalog CSV's supplier contact columns: set when good, a row error when not, and then
nothing of the file is written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.importing.csv_import import ImportFailed, ImportKind, import_csv
from store.models import Product, Supplier
from store.policy import DEFAULT_POLICY
from tests.factories import NOW

HEADER = (
    b"sku,name,price,category,stock_on_hand,supplier,"
    b"supplier_email,supplier_locale,supplier_timezone\n"
)


def _import(session: Session, data: bytes) -> None:
    import_csv(session, ImportKind.CATALOG, data, policy=DEFAULT_POLICY, now=NOW)


def _errors(session: Session, data: bytes) -> list[str]:
    with pytest.raises(ImportFailed) as caught:
        _import(session, data)
    return [str(e) for e in caught.value.errors]


def test_contact_columns_set_the_suppliers_email_language_and_zone(session: Session) -> None:
    _import(
        session,
        HEADER
        + b"KETTLE,Kettle,30,kitchen,0,Acme,orders@acme.example,es-MX,America/Mexico_City\n"
        + b"TEAPOT,Teapot,20,kitchen,0,Acme,orders@acme.example,es-MX,America/Mexico_City\n"
        + b"MUG,Mug,5,kitchen,3,Other,,,\n",
    )
    acme = session.scalars(select(Supplier).where(Supplier.name == "Acme")).one()
    assert (acme.email, acme.locale, acme.timezone) == (
        "orders@acme.example",
        "es-MX",
        "America/Mexico_City",
    )
    other = session.scalars(select(Supplier).where(Supplier.name == "Other")).one()
    assert (other.email, other.locale, other.timezone) == (None, "en", "UTC")


def test_a_bad_email_or_zone_is_named_by_line_and_nothing_is_imported(session: Session) -> None:
    data = (
        HEADER
        + b"KETTLE,Kettle,30,kitchen,0,Acme,not-an-address,en,UTC\n"
        + b"TEAPOT,Teapot,20,kitchen,0,Beta,orders@beta.example,en,Mars/Olympus\n"
        + b"MUG,Mug,5,kitchen,3,Gamma,orders@gamma.example,fr,UTC\n"
        + b"CUP,Cup,5,kitchen,3,,orders@nobody.example,,\n"
        + b"PLATE,Plate,5,kitchen,3,Delta,orders@delta.example,en,UTC\n"
    )
    errors = _errors(session, data)
    assert errors[0].startswith("line 2: supplier 'Acme': e-mail 'not-an-address'")
    assert errors[1].startswith("line 3: supplier 'Beta': time zone 'Mars/Olympus'")
    assert errors[2].startswith("line 4: supplier 'Gamma': locale 'fr' is not supported")
    assert errors[3] == "line 5: supplier contact columns are filled in but supplier is empty"
    assert len(errors) == 4
    assert session.scalar(select(func.count()).select_from(Product)) == 0
    assert session.scalar(select(func.count()).select_from(Supplier)) == 0


def test_two_contacts_for_one_supplier_are_refused(session: Session) -> None:
    errors = _errors(
        session,
        HEADER
        + b"KETTLE,Kettle,30,kitchen,0,Acme,a@acme.example,en,UTC\n"
        + b"TEAPOT,Teapot,20,kitchen,0,Acme,b@acme.example,en,UTC\n",
    )
    assert errors == ["line 3: supplier 'Acme' has a different contact on line 2"]
