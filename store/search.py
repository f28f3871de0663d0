"""Finding a customer the way an agent asks: a phone number in any format, part of a name, an
order number or a SKU, typed into one box.

Every key is tried, and a customer found by several keys is listed once, under the strongest
(phone, order, SKU, then name). A phone number is normalised with ``store.customers`` (so
"(415) 555-0101", "415.555.0101" and "+1 415 555 0101" find the same E.164 number); a run of
at least :data:`MIN_PHONE_DIGITS` digits also matches inside the stored numbers, for an agent
who has only the last digits. Name matching folds case in SQL on both databases (SQLite's
``lower`` folds ASCII letters only: "JOSÉ" does not find "José" there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from store.customers import normalize_phone
from store.errors import InvalidInput
from store.models import Customer, Order, OrderLine, Product

__all__ = [
    "MAX_QUERY_LENGTH",
    "MIN_PHONE_DIGITS",
    "SearchHit",
    "SearchResults",
    "clean_query",
    "search",
]

MAX_QUERY_LENGTH = 200
MIN_PHONE_DIGITS = 4
DEFAULT_LIMIT = 50
_PHONE_CHARS = re.compile(r"^[\d\s()+.\-/]+$")
_RANK = {"phone": 0, "order": 1, "sku": 2, "name": 3}


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One customer found, and by what: ``matched`` is phone, order, sku or name; ``detail``
    the order number or SKU that matched, when it was one of those."""

    customer_id: int
    name: str
    phone: str | None
    matched: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class SearchResults:
    query: str
    hits: list[SearchHit]
    # A SKU or an order that matched exactly, so the page can link to it as well.
    sku: str | None = None
    order_number: str | None = None
    truncated: bool = False


def search(
    session: Session, raw: str, *, default_region: str | None = None, limit: int = DEFAULT_LIMIT
) -> SearchResults:
    """Customers matching ``raw`` by any key, strongest match first, at most ``limit``."""
    query = clean_query(raw)
    if not query:
        return SearchResults(query="", hits=[])
    found: list[SearchHit] = []
    found += _by_phone(session, query, default_region, limit)
    order_number, by_order = _by_order(session, query)
    found += by_order
    sku, by_sku = _by_sku(session, query, limit)
    found += by_sku
    found += _by_name(session, query, limit)
    hits = _best_per_customer(found)
    return SearchResults(
        query=query,
        hits=hits[:limit],
        sku=sku,
        order_number=order_number,
        truncated=len(hits) > limit,
    )


def clean_query(raw: str) -> str:
    """What can be searched for: no NUL (PostgreSQL refuses it in text), no lone surrogate
    (it cannot be encoded to send to the database, or back in a page), trimmed and capped."""
    text = raw.replace("\x00", "").encode("utf-8", "ignore").decode("utf-8")
    return text.strip()[:MAX_QUERY_LENGTH]


def _best_per_customer(found: list[SearchHit]) -> list[SearchHit]:
    best: dict[int, SearchHit] = {}
    for hit in found:
        kept = best.get(hit.customer_id)
        if kept is None or _RANK[hit.matched] < _RANK[kept.matched]:
            best[hit.customer_id] = hit
    return sorted(best.values(), key=lambda h: (_RANK[h.matched], h.name.casefold(), h.customer_id))


def _hits(session: Session, query: Select[*tuple[Any, ...]], matched: str) -> list[SearchHit]:
    rows = session.execute(query).all()
    return [SearchHit(r.id, r.name, r.phone, matched, getattr(r, "detail", None)) for r in rows]


_CUSTOMER = (Customer.id, Customer.name, Customer.phone)


def _by_phone(
    session: Session, query: str, default_region: str | None, limit: int
) -> list[SearchHit]:
    if not _PHONE_CHARS.match(query):
        return []
    try:
        e164 = normalize_phone(query, default_region)
    except InvalidInput:
        e164 = None
    if e164 is not None:
        exact = _hits(session, select(*_CUSTOMER).where(Customer.phone == e164), "phone")
        if exact:
            return exact
    digits = re.sub(r"\D", "", query)
    if len(digits) < MIN_PHONE_DIGITS:
        return []
    partial = (
        select(*_CUSTOMER)
        .where(Customer.phone.contains(digits, autoescape=True))
        .order_by(Customer.id)
        .limit(limit + 1)
    )
    return _hits(session, partial, "phone")


def _by_order(session: Session, query: str) -> tuple[str | None, list[SearchHit]]:
    number = query.removeprefix("#").strip()
    stmt = select(*_CUSTOMER, Order.number.label("detail")).join(
        Order, Order.customer_id == Customer.id
    )
    # The exact number uses the unique index; only a miss pays for the case-folding scan
    # (numbers are stored as the shop wrote them, an agent may type them in any case).
    hits = _hits(session, stmt.where(Order.number == number), "order")
    if not hits:
        hits = _hits(session, stmt.where(func.upper(Order.number) == number.upper()), "order")
    return (hits[0].detail if hits else None), hits


def _by_sku(session: Session, query: str, limit: int) -> tuple[str | None, list[SearchHit]]:
    sku = session.scalar(select(Product.sku).where(Product.sku == query)) or session.scalar(
        select(Product.sku).where(func.upper(Product.sku) == query.upper())
    )
    if sku is None:
        return None, []
    stmt = (
        select(*_CUSTOMER, Product.sku.label("detail"))
        .join(Order, Order.customer_id == Customer.id)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(Product.sku == sku)
        .distinct()
        .order_by(Customer.id)
        .limit(limit + 1)
    )
    return sku, _hits(session, stmt, "sku")


def _by_name(session: Session, query: str, limit: int) -> list[SearchHit]:
    stmt = (
        select(*_CUSTOMER)
        .where(func.lower(Customer.name).contains(query.lower(), autoescape=True))
        .order_by(Customer.name, Customer.id)
        .limit(limit + 1)
    )
    return _hits(session, stmt, "name")
