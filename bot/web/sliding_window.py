"""A sliding-window request limit per key (an order token, a client address), in memory.

Per process: with several web processes each keeps its own count, so the effective limit is
the limit times the number of processes. That is enough to stop someone hammering one link
or trying tokens from one address; a shared limit would need the database or a cache server.
Used from the event loop only (route handlers), so it needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` requests per key in any ``window_seconds``.

    Keys seen least recently are forgotten beyond ``max_keys``, so a flood of distinct keys
    (random tokens) costs bounded memory; such a flood still counts against its address.
    """

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("limit must be >= 1 and window_seconds > 0")
        self.limit = limit
        self.window = window_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str) -> float | None:
        """Count a request; None if it is allowed, else the seconds until one would be.

        A refused request is not counted: a client that keeps trying is let in again as soon
        as its oldest counted request leaves the window.
        """
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window - now
        hits.append(now)
        while len(self._hits) > self._max_keys:
            self._hits.popitem(last=False)
        return None
