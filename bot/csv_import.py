"""CSV imports: catalog, customers, orders and purchase orders.

All or nothing. Every row is read and checked first; if any row is bad, each problem is reported
with its line number and reason and nothing is written. Good files are applied in one transaction
through the store's operations (so orders are allocated, backordered and offered like any other).
Columns are documented in the README.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.catalog import ProductData, PurchaseLineData, record_purchase_order, upsert_product
from store.customers import (
    CustomerData,
    check_timezone,
    find_by_phone,
    normalize_locale,
    normalize_phone,
    upsert_customer,
)
from store.errors import InvalidInput, StoreError
from store.eta import check_new_date, shop_today
from store.models import Channel, Customer, Product
from store.money import check_currency, parse_amount
from store.orders import LineRequest, place_order
from store.policy import Policy

MAX_ROWS = 1_000_000
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
        ("supplier", "alternatives", "discount_percent", "currency"),
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


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportFailed(Exception):
    """The file was refused; ``errors`` says where and why. Nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} problem(s); nothing was imported")
        self.errors = errors


@dataclass(slots=True)
class ImportReport:
    kind: ImportKind
    rows: int
    written: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    values: dict[str, str]


def read_rows(data: bytes, kind: ImportKind) -> tuple[list[Row], list[str]]:
    """Decode and split the file; raise ``ImportFailed`` for bytes or headers we cannot use."""
    required, optional = COLUMNS[kind]
    # surrogateescape keeps undecodable bytes visible per row, so every bad line is reported.
    text = data.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\0extra")
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    if not header:
        raise ImportFailed([RowError(1, "the file is empty; expected a header line")])
    reader.fieldnames = header
    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFailed([RowError(1, f"missing column(s): {', '.join(missing)}")])
    known = set(required) | set(optional)
    warnings = [
        f"column {name!r} is not used and was ignored" for name in header if name not in known
    ]
    rows: list[Row] = []
    errors: list[RowError] = []
    start = reader.line_num + 1
    for record in reader:
        line = start
        start = reader.line_num + 1
        if len(rows) + len(errors) >= MAX_ROWS:
            raise ImportFailed([RowError(line, f"more than {MAX_ROWS:,} rows; split the file")])
        problem = _row_shape_problem(record)
        if problem:
            errors.append(RowError(line, problem))
            continue
        values = {k: (v or "").strip() for k, v in record.items() if k != "\0extra"}
        if not any(values.values()):
            continue  # blank line
        rows.append(Row(line, values))
    if errors:
        raise ImportFailed(errors)
    return rows, warnings


def _row_shape_problem(record: dict[str, Any]) -> str | None:
    if record.get("\0extra"):
        return "more fields than the header has columns (a stray comma or quote?)"
    for value in record.values():
        if isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value):
            bad = next(ch for ch in value if "\udc80" <= ch <= "\udcff")
            byte = ord(bad) - 0xDC00
            return f"not valid UTF-8 (byte 0x{byte:02x}); save the file as UTF-8"
    return None


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
    rows: Iterable[Row], parse: Callable[[dict[str, str]], Any]
) -> tuple[list[tuple[int, Any]], list[RowError]]:
    parsed: list[tuple[int, Any]] = []
    errors: list[RowError] = []
    for row in rows:
        try:
            parsed.append((row.line, parse(row.values)))
        except ValueError as exc:
            errors.append(RowError(row.line, str(exc)))
    return parsed, errors


def _parse_product(v: dict[str, str]) -> ProductData:
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


def _customer_parser(default_region: str) -> Callable[[dict[str, str]], CustomerData]:
    """Empty or absent optional columns parse to ``None``: the stored value (or default) stays."""

    def parse(v: dict[str, str]) -> CustomerData:
        channel = v.get("preferred_channel", "").lower()
        if channel and channel not in {c.value for c in Channel}:
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


def _order_parser(default_region: str) -> Callable[[dict[str, str]], OrderRow]:
    def parse(v: dict[str, str]) -> OrderRow:
        placed = v.get("placed_at", "")
        return OrderRow(
            number=_required(v, "number"),
            phone=_store_value(lambda: normalize_phone(_required(v, "phone"), default_region)),
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


def _parse_purchase(v: dict[str, str]) -> PurchaseRow:
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


def import_csv(
    session: Session,
    kind: ImportKind,
    data: bytes,
    *,
    policy: Policy,
    now: dt.datetime,
    default_region: str = "US",
    default_locale: str = "en",
    default_timezone: str = "UTC",
    progress: Progress | None = None,
) -> ImportReport:
    """Check and apply one file in the caller's transaction; raise ``ImportFailed`` if refused.

    New customers without a locale or time zone get ``default_locale`` / ``default_timezone``.
    The caller must roll back on ``ImportFailed`` (``Database.session()`` does).
    """
    rows, warnings = read_rows(data, kind)
    parser: Callable[[dict[str, str]], Any] = {
        ImportKind.CATALOG: _parse_product,
        ImportKind.CUSTOMERS: _customer_parser(default_region),
        ImportKind.ORDERS: _order_parser(default_region),
        ImportKind.PURCHASE_ORDERS: _parse_purchase,
    }[kind]
    parsed, errors = parse_rows(rows, parser)
    if errors:
        raise ImportFailed(errors)
    tick = progress or (lambda _n: None)
    defaults = {"default_locale": default_locale, "default_timezone": default_timezone}
    appliers: dict[ImportKind, Callable[..., dict[str, int]]] = {
        ImportKind.CATALOG: _apply_catalog,
        ImportKind.CUSTOMERS: partial(_apply_customers, defaults=defaults),
        ImportKind.ORDERS: partial(_apply_orders, defaults=defaults),
        ImportKind.PURCHASE_ORDERS: _apply_purchases,
    }
    written = appliers[kind](session, parsed, policy, now, tick)
    return ImportReport(kind, len(parsed), written, warnings)


def _known_skus(session: Session, skus: set[str]) -> set[str]:
    return set(session.scalars(select(Product.sku).where(Product.sku.in_(skus))))


def _currencies(session: Session, skus: set[str]) -> dict[str, str]:
    rows = session.execute(select(Product.sku, Product.currency).where(Product.sku.in_(skus)))
    return {sku: currency for sku, currency in rows}


def _apply_catalog(
    session: Session,
    parsed: list[tuple[int, Any]],
    policy: Policy,
    now: dt.datetime,
    tick: Progress,
) -> dict[str, int]:
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
    if errors:
        raise ImportFailed(errors)
    # Two passes: alternatives may name products defined further down the same file.
    for line, data in parsed:
        with _at_line(line):
            upsert_product(session, _without_alternatives(data), now)
    for line, data in parsed:
        with _at_line(line):
            upsert_product(session, data, now)
        tick(1)
    return {"products": len(parsed)}


def _without_alternatives(data: ProductData) -> ProductData:
    return ProductData(
        sku=data.sku,
        name=data.name,
        price_cents=data.price_cents,
        category=data.category,
        stock_on_hand=data.stock_on_hand,
        supplier=data.supplier,
        discount_percent=data.discount_percent,
        currency=data.currency,
    )


def _apply_customers(
    session: Session,
    parsed: list[tuple[int, Any]],
    policy: Policy,
    now: dt.datetime,
    tick: Progress,
    *,
    defaults: dict[str, str],
) -> dict[str, int]:
    phones = Counter(data.phone for _, data in parsed)
    errors = [
        RowError(line, f"phone {data.phone} appears more than once in the file")
        for line, data in parsed
        if phones[data.phone] > 1
    ]
    if errors:
        raise ImportFailed(errors)
    for line, data in parsed:
        with _at_line(line):
            upsert_customer(session, data, **defaults)
        tick(1)
    session.flush()
    return {"customers": len(parsed)}


def _apply_orders(
    session: Session,
    parsed: list[tuple[int, Any]],
    policy: Policy,
    now: dt.datetime,
    tick: Progress,
    *,
    defaults: dict[str, str],
) -> dict[str, int]:
    grouped = _group_orders(parsed)
    known = _known_skus(session, {row.sku for _, row in parsed})
    errors = [
        RowError(line, f"unknown sku {row.sku!r}") for line, row in parsed if row.sku not in known
    ]
    customers: dict[str, Customer] = {}
    for line, row in parsed:
        if row.phone in customers:
            continue
        found = find_by_phone(session, row.phone)
        if found is None and row.customer_name:
            data = CustomerData(name=row.customer_name, phone=row.phone)
            found = upsert_customer(session, data, **defaults)
        if found is None:
            errors.append(
                RowError(
                    line,
                    f"no customer with phone {row.phone}; "
                    "import customers first or add a customer_name column",
                )
            )
            continue
        customers[row.phone] = found
    if errors:
        raise ImportFailed(sorted(set(errors), key=lambda e: e.line))
    placed = 0
    for number, (first_line, rows) in grouped.items():
        head = rows[0]
        with _at_line(first_line):
            result = place_order(
                session,
                number=number,
                customer=customers[head.phone],
                lines=[LineRequest(r.sku, r.quantity) for r in rows],
                placed_at=head.placed_at,
                policy=policy,
                now=now,
            )
        placed += int(result.created)
        tick(len(rows))
    return {"orders": placed, "already_present": len(grouped) - placed}


def _group_orders(parsed: list[tuple[int, Any]]) -> dict[str, tuple[int, list[OrderRow]]]:
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
    if errors:
        raise ImportFailed(errors)
    return grouped


def _apply_purchases(
    session: Session,
    parsed: list[tuple[int, Any]],
    policy: Policy,
    now: dt.datetime,
    tick: Progress,
) -> dict[str, int]:
    known = _known_skus(session, {row.line.sku for _, row in parsed})
    errors = [
        RowError(line, f"unknown sku {row.line.sku!r}")
        for line, row in parsed
        if row.line.sku not in known
    ]
    errors += _date_errors(parsed, shop_today(now, policy))
    if errors:
        raise ImportFailed(errors)
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


def _date_errors(parsed: list[tuple[int, Any]], today: dt.date) -> list[RowError]:
    """Each past or absurd expected_date on its own line (the store would name only the first
    line of its purchase order)."""
    errors = []
    for line, row in parsed:
        try:
            check_new_date(row.line.expected_date, today, field="expected_date")
        except InvalidInput as exc:
            errors.append(RowError(line, str(exc)))
    return errors


@contextmanager
def _at_line(line: int) -> Iterator[None]:
    """Turn a store refusal into a line-numbered import error (the transaction rolls back)."""
    try:
        yield
    except StoreError as exc:
        raise ImportFailed([RowError(line, str(exc))]) from None


def iter_errors(errors: list[RowError], limit: int) -> Iterator[str]:
    for error in errors[:limit]:
        yield str(error)
    if len(errors) > limit:
        yield f"... and {len(errors) - limit} more"
