"""Lists a page at a time, and the board's filters (overdue date, no date, supplier).

The board and a SKU's waiting lines rendered every row: thousands of rows on one page. Each is
now cut into pages of :data:`PAGE_SIZE` (``?page=``), and the board can be narrowed to the SKUs
whose supplier date has passed, those with no date, or one supplier. Filters and the page
number travel in the query string (no customer data in them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlencode

from bot.agents.views import BoardRow

T = TypeVar("T")
PAGE_SIZE = 50
ETA_FILTERS = {"": "any date", "overdue": "date passed", "none": "no date"}


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    number: int
    pages: int
    total: int

    def link(self, number: int, query: Mapping[str, str]) -> str:
        """The query string of page ``number`` with the same filters."""
        return "?" + urlencode({**{k: v for k, v in query.items() if v}, "page": str(number)})


def page_of(items: Sequence[T], raw: str | None, size: int = PAGE_SIZE) -> Page[T]:
    """Page ``raw`` (1-based; anything else, or past the end, is the nearest page)."""
    pages = max(1, -(-len(items) // size))
    number = int(raw) if raw and raw.isdigit() and len(raw) < 7 else 1
    number = min(max(number, 1), pages)
    start = (number - 1) * size
    return Page(items[start : start + size], number, pages, len(items))


@dataclass(frozen=True, slots=True)
class BoardFilter:
    eta: str
    supplier: str

    @classmethod
    def of(cls, query: Mapping[str, str]) -> BoardFilter:
        eta = query.get("eta", "")
        return cls(eta if eta in ETA_FILTERS else "", query.get("supplier", "")[:200])

    def query(self) -> dict[str, str]:
        return {"eta": self.eta, "supplier": self.supplier}

    def apply(self, rows: Sequence[BoardRow], today: dt.date) -> list[BoardRow]:
        """The rows this filter keeps; "overdue" is a date before the shop's today."""
        kept = list(rows)
        if self.eta == "overdue":
            kept = [r for r in kept if r.eta is not None and r.eta < today]
        elif self.eta == "none":
            kept = [r for r in kept if r.eta is None]
        if self.supplier:
            kept = [r for r in kept if (r.supplier or "") == self.supplier]
        return kept


def suppliers(rows: Sequence[BoardRow]) -> list[str]:
    """The suppliers on the board, for the filter's menu."""
    return sorted({r.supplier for r in rows if r.supplier})
