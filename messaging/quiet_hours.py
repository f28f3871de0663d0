"""Quiet hours, in the recipient's own time zone.

A window such as 21:00-08:00 crosses midnight; 13:00-14:00 does not; equal start and end means
no quiet hours. A message due inside the window waits for the window's end (to the minute).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: dt.time
    end: dt.time

    def next_allowed(self, now: dt.datetime, timezone: str) -> dt.datetime | None:
        """None when a message may go now; otherwise the UTC moment the window ends."""
        if self.start == self.end:
            return None
        local = now.astimezone(_zone(timezone))
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= clock < self.end
        else:
            inside = clock >= self.start or clock < self.end
        if not inside:
            return None
        end_day = local.date()
        if self.start > self.end and clock >= self.start:
            end_day += dt.timedelta(days=1)
        # Built from the wall clock so a DST change inside the window lands on the real 08:00.
        ends = dt.datetime.combine(end_day, self.end, tzinfo=local.tzinfo)
        return ends.astimezone(dt.UTC)


@lru_cache(maxsize=1024)
def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # A bad zone in the data must not stop delivery: treat it as UTC.
        return dt.UTC
