"""Shared pieces of the analytics: exact distributions, wait bands, weeks, SQL time arithmetic."""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func
from sqlalchemy.orm import Session

DAY = 86_400

# Histogram buckets of a wait, in days: [0, 1), [1, 3), [3, 7), [7, 14), [14, 30), [30, inf).
HISTOGRAM_EDGES_DAYS: tuple[int, ...] = (0, 1, 3, 7, 14, 30)
# Wait bands for the customers' choices (the brief's: under 7 days, 7-14, 14-30, over 30).
WAIT_BANDS_DAYS: tuple[int, ...] = (0, 7, 14, 30)


def band_label(edges: Sequence[int], index: int) -> str:
    """``"0-7d"`` for a closed-open band, ``"30d+"`` for the last one."""
    if index == len(edges) - 1:
        return f"{edges[index]}d+"
    return f"{edges[index]}-{edges[index + 1]}d"


def band_of(seconds: int, edges: Sequence[int]) -> int:
    """The index of the band ``[edge_i, edge_i+1)`` days that holds ``seconds`` (>= 0)."""
    index = 0
    for i, edge in enumerate(edges):
        if seconds >= edge * DAY:
            index = i
    return index


@dataclass(frozen=True, slots=True)
class Bucket:
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class Distribution:
    """Durations in whole seconds. Percentiles are nearest-rank: the p-th percentile is the
    smallest value with at least p% of the values at or below it (an observed value, exact)."""

    count: int
    p50_seconds: int | None
    p90_seconds: int | None
    max_seconds: int | None
    mean_seconds: float | None
    histogram: tuple[Bucket, ...]


def distribution(seconds: list[int]) -> Distribution:
    values = sorted(seconds)
    if values and values[0] < 0:  # clamping keeps the order: only the few negatives change
        values = [max(0, s) for s in values]
    # The values are sorted: each bucket's count is the gap between two binary searches (a
    # Python loop over each value cost most of the flow chart's time at a million lines).
    starts = [bisect_left(values, edge * DAY) for edge in HISTOGRAM_EDGES_DAYS]
    ends = [*starts[1:], len(values)]
    counts = [end - start for start, end in zip(starts, ends, strict=True)]
    histogram = tuple(Bucket(band_label(HISTOGRAM_EDGES_DAYS, i), c) for i, c in enumerate(counts))
    if not values:
        return Distribution(0, None, None, None, None, histogram)
    return Distribution(
        count=len(values),
        p50_seconds=nearest_rank(values, 50),
        p90_seconds=nearest_rank(values, 90),
        max_seconds=values[-1],
        mean_seconds=sum(values) / len(values),
        histogram=histogram,
    )


def nearest_rank(sorted_values: Sequence[int], percent: int) -> int:
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def seconds_between(session: Session, later: Any, earlier: Any) -> ColumnElement[int]:
    """``later - earlier`` in whole seconds (rounded), computed by the database itself."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.round(func.extract("epoch", later - earlier)), Integer)
    return cast(func.round((func.julianday(later) - func.julianday(earlier)) * DAY), Integer)


def day_of(session: Session, moment: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a stored (naive UTC) timestamp, grouped on by the database.

    SQLite keeps timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` text (SQLAlchemy's format): the
    first ten characters are the day, and cutting them is cheaper than ``date()``'s parse
    (a sixth of revenue-by-week's time at a million lines)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(moment)
    return func.substr(moment, 1, 10)


def week_of(day: dt.date | str) -> dt.date:
    """The Monday starting the ISO week that holds ``day`` (UTC days)."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return day - dt.timedelta(days=day.weekday())
