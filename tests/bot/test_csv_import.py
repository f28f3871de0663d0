"""CSV imports: good files land whole; any bad row is reported by line and nothing is written."""

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.importing.csv_import import ImportFailed, ImportKind, import_csv
from store.models import Channel, Customer, LineStatus, Order, Product, PurchaseOrder
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW

CATALOG = b"""sku,name,price,category,stock_on_hand,supplier,alternatives
MUG,Stoneware Mug,14.90,kitchen,0,Pacific Kitchen,MUG2
MUG2,Stoneware Mug Slate,14.90,kitchen,5,Pacific Kitchen,
"""


def _import(session: Session, kind: ImportKind, data: bytes):
    return import_csv(session, kind, data, policy=DEFAULT_POLICY, now=NOW, default_region="US")


def _errors(session: Session, kind: ImportKind, data: bytes) -> list[str]:
    with pytest.raises(ImportFailed) as caught:
        _import(session, kind, data)
    return [str(e) for e in caught.value.errors]


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_catalog_import_creates_products_with_alternatives_defined_later(session: Session) -> None:
    report = _import(session, ImportKind.CATALOG, CATALOG)
    assert report.written == {"products": 2}
    mug = session.scalars(select(Product).where(Product.sku == "MUG")).one()
    assert mug.price_cents == 1490
    assert [a.alternative.sku for a in mug.alternatives] == ["MUG2"]


def test_missing_column_is_reported_on_the_header_line(session: Session) -> None:
    data = b"sku,name,price,category\nMUG,Mug,1.00,kitchen\n"
    assert _errors(session, ImportKind.CATALOG, data) == [
        "line 1: missing column(s): stock_on_hand"
    ]


def test_bad_quantity_is_reported_with_its_line_and_nothing_is_written(session: Session) -> None:
    f.product(session, "MUG", stock=5)
    f.customer(session, phone="+14155550100")
    data = (
        b"number,phone,sku,quantity\n"
        b"A1,+14155550100,MUG,1\n"
        b"A2,+14155550100,MUG,two\n"
        b"A3,+14155550100,MUG,-1\n"
    )
    assert _errors(session, ImportKind.ORDERS, data) == [
        "line 3: quantity must be a whole number, got 'two'",
        "line 4: quantity must be at least 1, got -1",
    ]
    assert _count(session, Order) == 0


def test_unknown_sku_is_reported_and_no_order_is_placed(session: Session) -> None:
    product = f.product(session, "MUG", stock=5)
    f.customer(session, phone="+14155550100")
    data = b"number,phone,sku,quantity\nA1,+14155550100,MUG,1\nA2,+14155550100,NOPE,1\n"
    assert _errors(session, ImportKind.ORDERS, data) == ["line 3: unknown sku 'NOPE'"]
    assert _count(session, Order) == 0
    assert product.stock_on_hand == 5


def test_bad_phone_is_reported(session: Session) -> None:
    data = b"name,phone\nAda,+1 415 555 0100\nBob,12345\nCy,not a number\n"
    errors = _errors(session, ImportKind.CUSTOMERS, data)
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4"]
    assert "12345" in errors[0]
    assert _count(session, Customer) == 0


def test_non_utf8_bytes_are_reported_on_their_line(session: Session) -> None:
    data = b"name,phone\nAda,+14155550100\nJos\xe9,+14155550101\n"
    assert _errors(session, ImportKind.CUSTOMERS, data) == [
        "line 3: not valid UTF-8 (byte 0xe9); save the file as UTF-8"
    ]
    assert _count(session, Customer) == 0


def test_utf8_with_bom_and_spanish_names_imports(session: Session) -> None:
    data = "\ufeffname,phone,locale,timezone\nJosé Núñez,+34612345678,es,Europe/Madrid\n"
    _import(session, ImportKind.CUSTOMERS, data.encode())
    customer = session.scalars(select(Customer)).one()
    assert (customer.name, customer.locale, customer.timezone) == (
        "José Núñez",
        "es",
        "Europe/Madrid",
    )


def test_stray_extra_field_is_reported(session: Session) -> None:
    data = b"name,phone\nAda,+14155550100,oops\n"
    assert _errors(session, ImportKind.CUSTOMERS, data) == [
        "line 2: more fields than the header has columns (a stray comma or quote?)"
    ]


def test_empty_file_is_refused(session: Session) -> None:
    assert _errors(session, ImportKind.CUSTOMERS, b"") == [
        "line 1: the file is empty; expected a header line"
    ]


def test_quoted_newline_keeps_later_line_numbers_true(session: Session) -> None:
    data = (
        b'sku,name,price,category,stock_on_hand\nA,"two\nlines",1.00,kitchen,1\nB,Bad,x,kitchen,1\n'
    )
    assert _errors(session, ImportKind.CATALOG, data) == [
        "line 4: price must be a number like 12.50, got 'x'"
    ]


def test_order_rows_with_the_same_number_form_one_order(session: Session) -> None:
    f.product(session, "MUG", stock=1)
    f.product(session, "PAN", stock=0)
    data = (
        b"number,phone,sku,quantity,placed_at,customer_name\n"
        b"A1,(415) 555-0100,MUG,1,2026-10-01T10:00:00Z,Ada Lovelace\n"
        b"A1,(415) 555-0100,PAN,2,2026-10-01T10:00:00Z,Ada Lovelace\n"
    )
    report = _import(session, ImportKind.ORDERS, data)
    assert report.written == {"orders": 1, "already_present": 0}
    order = session.scalars(select(Order)).one()
    assert [(line.product.sku, line.status) for line in order.lines] == [
        ("MUG", LineStatus.ALLOCATED),
        ("PAN", LineStatus.BACKORDERED),
    ]
    assert order.customer.phone == "+14155550100"


def test_importing_the_same_orders_twice_places_them_once(session: Session) -> None:
    f.product(session, "MUG", stock=5)
    f.customer(session, phone="+14155550100")
    data = b"number,phone,sku,quantity\nA1,+14155550100,MUG,2\n"
    _import(session, ImportKind.ORDERS, data)
    again = _import(session, ImportKind.ORDERS, data)
    assert again.written == {"orders": 0, "already_present": 1}


def test_store_refusal_midway_is_reported_with_its_line(session: Session) -> None:
    f.product(session, "MUG", stock=5)
    f.customer(session, phone="+14155550100")
    f.order(session, "A1", [("MUG", 1)])
    data = b"number,phone,sku,quantity\nA0,+14155550100,MUG,1\nA1,+14155550100,MUG,3\n"
    assert _errors(session, ImportKind.ORDERS, data) == [
        "line 3: order A1 already exists with different content"
    ]


def test_purchase_orders_set_product_dates(session: Session) -> None:
    product = f.product(session, "MUG")
    data = b"reference,supplier,sku,quantity,expected_date\nPO-9,Acme,MUG,50,2026-12-24\n"
    _import(session, ImportKind.PURCHASE_ORDERS, data)
    assert _count(session, PurchaseOrder) == 1
    assert product.eta is not None
    assert product.eta.isoformat() == "2026-12-24"


def test_bad_date_in_purchase_orders_is_reported(session: Session) -> None:
    f.product(session, "MUG")
    data = b"reference,supplier,sku,quantity,expected_date\nPO-9,Acme,MUG,50,24/12/2026\n"
    assert _errors(session, ImportKind.PURCHASE_ORDERS, data) == [
        "line 2: expected_date must be a date like 2026-12-31, got '24/12/2026'"
    ]


def test_reimporting_the_catalog_does_not_hand_out_the_units_again(session: Session) -> None:
    f.product(session, "MUG", stock=0)
    waiting = [f.order(session, f"W{i}", [("MUG", 1)]) for i in range(6)]
    counted = CATALOG.replace(b"kitchen,0,", b"kitchen,3,")
    _import(session, ImportKind.CATALOG, counted)
    _import(session, ImportKind.CATALOG, counted)
    allocated = [o for o in waiting if o.lines[0].status == LineStatus.ALLOCATED]
    assert len(allocated) == 3


def test_a_catalog_count_below_the_reserved_units_is_reported_on_its_line(
    session: Session,
) -> None:
    f.product(session, "MUG2", stock=8)
    f.order(session, "A", [("MUG2", 6)])
    errors = _errors(session, ImportKind.CATALOG, CATALOG)
    assert len(errors) == 1
    assert errors[0].startswith("line 3: stock_on_hand 5")


# ---- defaults for new customers; re-imports change only the columns given ----

NEW_YORK = {"default_timezone": "America/New_York", "default_locale": "es"}
SPANISH_CUSTOMER = (
    b"name,phone,email,locale,timezone,preferred_channel\n"
    b"Ada,+14155550100,ada@example.com,es-MX,Europe/Madrid,telegram\n"
)


def _import_in_new_york(session: Session, kind: ImportKind, data: bytes):
    return import_csv(
        session, kind, data, policy=DEFAULT_POLICY, now=NOW, default_region="US", **NEW_YORK
    )


def _only_customer(session: Session) -> Customer:
    return session.scalars(select(Customer)).one()


def test_imported_customer_without_timezone_gets_the_default_timezone(session: Session) -> None:
    _import_in_new_york(session, ImportKind.CUSTOMERS, b"name,phone\nAda,+14155550100\n")
    assert _only_customer(session).timezone == "America/New_York"


def test_imported_customer_without_locale_gets_the_default_locale(session: Session) -> None:
    _import_in_new_york(session, ImportKind.CUSTOMERS, b"name,phone\nAda,+14155550100\n")
    assert _only_customer(session).locale == "es"


def test_imported_customer_with_empty_timezone_and_locale_gets_the_defaults(
    session: Session,
) -> None:
    data = b"name,phone,locale,timezone\nAda,+14155550100,,\n"
    _import_in_new_york(session, ImportKind.CUSTOMERS, data)
    customer = _only_customer(session)
    assert (customer.locale, customer.timezone) == ("es", "America/New_York")


def test_reimport_without_timezone_keeps_the_stored_timezone(session: Session) -> None:
    _import(session, ImportKind.CUSTOMERS, SPANISH_CUSTOMER)
    _import_in_new_york(session, ImportKind.CUSTOMERS, b"name,phone\nAda,+14155550100\n")
    assert _only_customer(session).timezone == "Europe/Madrid"


def test_reimport_without_locale_keeps_the_stored_locale(session: Session) -> None:
    _import(session, ImportKind.CUSTOMERS, SPANISH_CUSTOMER)
    _import(session, ImportKind.CUSTOMERS, b"name,phone,locale\nAda,+14155550100,\n")
    assert _only_customer(session).locale == "es-MX"


def test_reimport_keeps_channel(session: Session) -> None:
    _import(session, ImportKind.CUSTOMERS, SPANISH_CUSTOMER)
    _import(session, ImportKind.CUSTOMERS, b"name,phone\nAda,+14155550100\n")
    assert _only_customer(session).preferred_channel == Channel.TELEGRAM


def test_reimport_keeps_email(session: Session) -> None:
    _import(session, ImportKind.CUSTOMERS, SPANISH_CUSTOMER)
    _import(session, ImportKind.CUSTOMERS, b"name,phone,email\nAda,+14155550100,\n")
    assert _only_customer(session).email == "ada@example.com"


def test_reimport_updates_the_columns_it_has(session: Session) -> None:
    _import(session, ImportKind.CUSTOMERS, SPANISH_CUSTOMER)
    data = b"name,phone,timezone,preferred_channel\nAda L,+14155550100,Asia/Tokyo,sms\n"
    _import(session, ImportKind.CUSTOMERS, data)
    customer = _only_customer(session)
    assert (customer.name, customer.timezone, customer.preferred_channel) == (
        "Ada L",
        "Asia/Tokyo",
        Channel.SMS,
    )
    assert customer.locale == "es-MX"


def test_invalid_timezone_and_locale_are_reported_with_their_lines(session: Session) -> None:
    data = b"name,phone,locale,timezone\nAda,+14155550100,fr,\nBob,+14155550101,,Mars/Base\n"
    assert _errors(session, ImportKind.CUSTOMERS, data) == [
        "line 2: locale 'fr' is not supported (use one of ('en', 'es'))",
        "line 3: time zone 'Mars/Base' is not an IANA time zone name",
    ]
    assert _count(session, Customer) == 0


def test_order_import_creates_its_customer_with_the_default_timezone_and_locale(
    session: Session,
) -> None:
    f.product(session, "MUG", stock=5)
    data = b"number,phone,sku,quantity,customer_name\nA1,+14155550100,MUG,1,Ada\n"
    _import_in_new_york(session, ImportKind.ORDERS, data)
    customer = _only_customer(session)
    assert (customer.locale, customer.timezone) == ("es", "America/New_York")


def test_past_date_in_purchase_orders_is_a_line_error_and_writes_nothing(
    session: Session,
) -> None:
    product = f.product(session, "MUG", eta=dt.date(2026, 12, 1))
    f.product(session, "CUP")
    f.order(session, "A1", [("MUG", 1)])
    data = (
        b"reference,supplier,sku,quantity,expected_date\n"
        b"PO-9,Acme,MUG,50,2026-12-24\n"
        b"PO-9,Acme,CUP,5,2020-01-01\n"
    )
    assert _errors(session, ImportKind.PURCHASE_ORDERS, data) == [
        "line 3: expected_date 2020-01-01 is in the past (today is 2026-11-02 in the shop's "
        "time zone); give today or a later date"
    ]
    assert _count(session, PurchaseOrder) == 0
    assert product.eta == dt.date(2026, 12, 1)
