"""CSV imports: catalog, customers, orders and purchase orders.

All or nothing. Every row is read and checked first; if any row is bad, each problem is reported
with its line number and reason and nothing is written. Good files are applied in one transaction
through the store's operations (so orders are allocated, backordered and offered like any other).
Columns are documented in the README.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.importing.csv_parsers import (
    OrderRow,
    customer_parser,
    order_parser,
    parse_purchase,
    parse_rows,
)
from bot.importing.csv_reading import (
    ImportFailed,
    Problems,
    RowError,
    iter_errors,
    iter_rows,
    open_text,
    read_header,
)
from bot.importing.supplier_columns import (
    CONTACT_COLUMNS,
    apply_contact,
    catalog_parser,
    check_contacts,
)
from store.catalog import ProductData, PurchaseLineData, record_purchase_order, upsert_product
from store.customers import CustomerData, customer_ids_by_phone, upsert_customer
from store.errors import InvalidInput, StoreError
from store.eta import check_new_date, shop_today
from store.models import Product
from store.order_bulk import BulkOrder, OrderRefused, place_orders
from store.orders import LineRequest
from store.policy import Policy

Progress = Callable[[int], None]


class ImportKind(StrEnum):
    CATALOG = "catalog"
    CUSTOMERS = "customers"
    ORDERS = "orders"
    PURCHASE_ORDERS = "purchase-orders"


COLUMNS: dict[ImportKind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required columns, optional columns)
    ImportKind.CATALOG: (
        ("sku", "name", "price", "category", "stock_on_hand"),
        ("supplier", "alternatives", "discount_percent", "currency", *CONTACT_COLUMNS),
    ),
    ImportKind.CUSTOMERS: (
        ("name", "phone"),
        ("email", "locale", "timezone", "preferred_channel", "external_id"),
    ),
    ImportKind.ORDERS: (("number", "phone", "sku", "quantity"), ("placed_at", "customer_name")),
    ImportKind.PURCHASE_ORDERS: (
        ("reference", "supplier", "sku", "quantity"),
        ("expected_date",),
    ),
}


@dataclass(slots=True)
class ImportReport:
    kind: ImportKind
    rows: int
    written: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def import_csv(
    session: Session,
    kind: ImportKind,
    data: bytes | Path,
    *,
    policy: Policy,
    now: dt.datetime,
    default_region: str = "US",
    default_locale: str = "en",
    default_timezone: str = "UTC",
    progress: Progress | None = None,
    checked: Progress | None = None,
) -> ImportReport:
    """Check and apply one file in the caller's transaction; raise ``ImportFailed`` if refused.

    Every problem of the file is found in one pass (a bad quantity and an unknown sku alike)
    before anything is written. ``checked`` hears how many rows will be written, ``progress``
    how many were. New customers without a locale or time zone get ``default_locale`` /
    ``default_timezone``. The caller must roll back on ``ImportFailed`` (``Database.session()``
    does).
    """
    parsed, warnings = check_file(session, kind, data, policy, now, default_region)
    (checked or _ignore)(len(parsed))
    defaults = {"default_locale": default_locale, "default_timezone": default_timezone}
    written = apply_rows(session, kind, parsed, policy, now, progress or _ignore, defaults)
    return ImportReport(kind, len(parsed), written, warnings)


def check_file(
    session: Session,
    kind: ImportKind,
    data: bytes | Path,
    policy: Policy,
    now: dt.datetime,
    default_region: str,
) -> tuple[Parsed, list[str]]:
    """Read, parse and check every row, writing nothing: the rows to apply and the warnings.

    Raises ``ImportFailed`` with every problem found (up to ``MAX_ERRORS`` of them).
    """
    problems = Problems()
    with open_text(data) as text:
        reader, warnings = read_header(text, *COLUMNS[kind])
        parsed = parse_rows(iter_rows(reader, problems), _parser(kind, default_region), problems)
    for error in _CHECKS[kind](session, parsed, shop_today(now, policy)):
        problems.add(error)
    problems.raise_if_any()
    return parsed, warnings


def apply_rows(
    session: Session,
    kind: ImportKind,
    parsed: Parsed,
    policy: Policy,
    now: dt.datetime,
    tick: Progress,
    defaults: dict[str, str],
) -> dict[str, int]:
    """Write checked rows through the store's operations; re-applying them changes nothing."""
    appliers: dict[ImportKind, Callable[..., dict[str, int]]] = {
        ImportKind.CATALOG: _apply_catalog,
        ImportKind.CUSTOMERS: partial(_apply_customers, defaults=defaults),
        ImportKind.ORDERS: partial(_apply_orders, defaults=defaults),
        ImportKind.PURCHASE_ORDERS: _apply_purchases,
    }
    return appliers[kind](session, parsed, policy, now, tick)


def _ignore(_n: int) -> None:
    pass


def _parser(kind: ImportKind, default_region: str) -> Callable[[dict[str, str]], Any]:
    return {
        ImportKind.CATALOG: catalog_parser(default_region),
        ImportKind.CUSTOMERS: customer_parser(default_region),
        ImportKind.ORDERS: order_parser(default_region),
        ImportKind.PURCHASE_ORDERS: parse_purchase,
    }[kind]


def _known_skus(session: Session, skus: set[str]) -> set[str]:
    return set(session.scalars(select(Product.sku).where(Product.sku.in_(skus))))


def _currencies(session: Session, skus: set[str]) -> dict[str, str]:
    rows = session.execute(select(Product.sku, Product.currency).where(Product.sku.in_(skus)))
    return {sku: currency for sku, currency in rows}


# ---- checks across rows and against the database: read only, every problem at once ----

Parsed = list[tuple[int, Any]]


def _check_catalog(session: Session, parsed: Parsed, _today: dt.date) -> list[RowError]:
    file_skus = Counter(data.sku for _, data in parsed)
    errors = [
        RowError(line, f"sku {data.sku!r} appears more than once in the file")
        for line, data in parsed
        if file_skus[data.sku] > 1
    ]
    referenced = {alt for _, data in parsed for alt in data.alternatives}
    # The currency each sku will have once the file is applied: the file's, else the stored one.
    currencies = _currencies(session, referenced) | {data.sku: data.currency for _, data in parsed}
    errors += [
        RowError(line, f"unknown alternative sku {alt!r}")
        for line, data in parsed
        for alt in data.alternatives
        if alt not in currencies
    ]
    errors += [
        RowError(line, f"alternative {alt} is priced in {currencies[alt]}, not {data.currency}")
        for line, data in parsed
        for alt in data.alternatives
        if currencies.get(alt, data.currency) != data.currency
    ]
    return errors + check_contacts(parsed)


def _check_customers(_session: Session, parsed: Parsed, _today: dt.date) -> list[RowError]:
    phones = Counter(data.phone for _, data in parsed)
    return [
        RowError(line, f"phone {data.phone} appears more than once in the file")
        for line, data in parsed
        if phones[data.phone] > 1
    ]


def _check_orders(session: Session, parsed: Parsed, _today: dt.date) -> list[RowError]:
    errors = _group_orders(parsed)[1]
    known = _known_skus(session, {row.sku for _, row in parsed})
    errors += [
        RowError(line, f"unknown sku {row.sku!r}") for line, row in parsed if row.sku not in known
    ]
    known_phones = customer_ids_by_phone(session, {row.phone for _, row in parsed})
    seen: set[str] = set()
    for line, row in parsed:
        if row.phone in seen or row.customer_name:
            continue
        seen.add(row.phone)
        if row.phone not in known_phones:
            errors.append(
                RowError(
                    line,
                    f"no customer with phone {row.phone}; "
                    "import customers first or add a customer_name column",
                )
            )
    return errors


def _check_purchases(session: Session, parsed: Parsed, today: dt.date) -> list[RowError]:
    known = _known_skus(session, {row.line.sku for _, row in parsed})
    errors = [
        RowError(line, f"unknown sku {row.line.sku!r}")
        for line, row in parsed
        if row.line.sku not in known
    ]
    # Each past or absurd expected_date on its own line (the store would name only the first
    # line of its purchase order).
    for line, row in parsed:
        try:
            check_new_date(row.line.expected_date, today, field="expected_date")
        except InvalidInput as exc:
            errors.append(RowError(line, str(exc)))
    return errors


_CHECKS: dict[ImportKind, Callable[[Session, Parsed, dt.date], list[RowError]]] = {
    ImportKind.CATALOG: _check_catalog,
    ImportKind.CUSTOMERS: _check_customers,
    ImportKind.ORDERS: _check_orders,
    ImportKind.PURCHASE_ORDERS: _check_purchases,
}


# ---- applying a checked file (the store may still refuse a row: then nothing is kept) ----


def _apply_catalog(
    session: Session, parsed: Parsed, policy: Policy, now: dt.datetime, tick: Progress
) -> dict[str, int]:
    # Two passes: alternatives may name products defined further down the same file.
    for line, data in parsed:
        with _at_line(line):
            upsert_product(session, _without_alternatives(data), now)
    for line, data in parsed:
        with _at_line(line):
            upsert_product(session, data, now)
            apply_contact(session, data)
        tick(1)
    return {"products": len(parsed)}


def _without_alternatives(data: ProductData) -> ProductData:
    return dataclasses.replace(data, alternatives=())


def _apply_customers(
    session: Session,
    parsed: Parsed,
    policy: Policy,
    now: dt.datetime,
    tick: Progress,
    *,
    defaults: dict[str, str],
) -> dict[str, int]:
    for line, data in parsed:
        with _at_line(line):
            upsert_customer(session, data, **defaults)
        tick(1)
    session.flush()
    return {"customers": len(parsed)}


def _apply_orders(
    session: Session,
    parsed: Parsed,
    policy: Policy,
    now: dt.datetime,
    tick: Progress,
    *,
    defaults: dict[str, str],
) -> dict[str, int]:
    customers = _order_customers(session, parsed, defaults)
    grouped = _group_orders(parsed)[0]
    orders = [
        BulkOrder(
            number=number,
            customer_id=customers[rows[0].phone],
            customer_key=rows[0].phone,  # place_order's key: the customer's phone
            lines=[LineRequest(r.sku, r.quantity) for r in rows],
            placed_at=rows[0].placed_at,
        )
        for number, (_, rows) in grouped.items()
    ]
    # Set-wise (``store.order_bulk``): one ORM ``place_order`` per order made a 100,000-row
    # file take hours. A refusal still names the first line of its order.
    try:
        created = place_orders(session, orders, policy, now)
    except OrderRefused as exc:
        first_line = list(grouped.values())[exc.position][0]
        raise ImportFailed([RowError(first_line, str(exc))]) from None
    tick(len(parsed))
    placed = sum(created)
    return {"orders": placed, "already_present": len(grouped) - placed}


def _order_customers(session: Session, parsed: Parsed, defaults: dict[str, str]) -> dict[str, int]:
    """Each phone's customer id, creating the customers the file names (checked: every
    unknown phone has a ``customer_name``)."""
    customers = customer_ids_by_phone(session, {row.phone for _, row in parsed})
    for _, row in parsed:
        if row.phone not in customers:
            data = CustomerData(name=row.customer_name, phone=row.phone)
            created = upsert_customer(session, data, **defaults)
            session.flush()
            customers[row.phone] = created.id
    return customers


def _group_orders(
    parsed: Parsed,
) -> tuple[dict[str, tuple[int, list[OrderRow]]], list[RowError]]:
    grouped: dict[str, tuple[int, list[OrderRow]]] = {}
    errors = []
    for line, row in parsed:
        first_line, rows = grouped.setdefault(row.number, (line, []))
        if rows and (rows[0].phone, rows[0].placed_at) != (row.phone, row.placed_at):
            errors.append(
                RowError(
                    line, f"order {row.number} has another phone or placed_at on line {first_line}"
                )
            )
        rows.append(row)
    return grouped, errors


def _apply_purchases(
    session: Session, parsed: Parsed, policy: Policy, now: dt.datetime, tick: Progress
) -> dict[str, int]:
    by_reference: dict[str, tuple[int, str, list[PurchaseLineData]]] = {}
    for line, row in parsed:
        by_reference.setdefault(row.reference, (line, row.supplier, []))[2].append(row.line)
    for reference, (line, supplier, lines) in by_reference.items():
        with _at_line(line):
            record_purchase_order(
                session, reference=reference, supplier=supplier, lines=lines, policy=policy, now=now
            )
        tick(len(lines))
    return {"purchase_orders": len(by_reference)}


@contextmanager
def _at_line(line: int) -> Iterator[None]:
    """Turn a store refusal into a line-numbered import error (the transaction rolls back)."""
    try:
        yield
    except StoreError as exc:
        raise ImportFailed([RowError(line, str(exc))]) from None


__all__ = ["ImportFailed", "ImportKind", "ImportReport", "RowError", "import_csv", "iter_errors"]
