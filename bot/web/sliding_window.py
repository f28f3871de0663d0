"""A sliding-window request limit per key (an order token, a client address), in memory.

Per process: with several web processes each keeps its own count, so the effective limit is
the limit times the number of processes. That is enough to stop someone hammering one link
or trying tokens from one address; a shared limit would need the database or a cache server.
Used from the event loop only (route handlers), so it needs no lock.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["LinkLimits", "SlidingWindow"]


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


class LinkLimits:
    """The two limits of a private link page (the order page, the supplier page): per token and
    per client address, both in one window. The address is counted first, so a flood of
    random tokens from one address is stopped there."""

    def __init__(self, per_token: int, per_address: int, window_seconds: float) -> None:
        self.by_token = SlidingWindow(per_token, window_seconds)
        self.by_address = SlidingWindow(per_address, window_seconds)

    def retry_after(self, address: str, token: str) -> str | None:
        """None when this request may go on; else the ``Retry-After`` value, whole seconds."""
        wait = self.by_address.hit(address)
        if wait is None:
            wait = self.by_token.hit(token[:64])
        return None if wait is None else str(max(1, math.ceil(wait)))
