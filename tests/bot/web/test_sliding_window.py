"""The in-process sliding window behind the order page's rate limits."""

from __future__ import annotations

import pytest

from bot.web.sliding_window import SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_allows_the_limit_then_says_how_long_to_wait() -> None:
    clock = Clock()
    window = SlidingWindow(2, 10, clock=clock)
    assert window.hit("k") is None
    clock.now += 4
    assert window.hit("k") is None
    assert window.hit("k") == pytest.approx(6)


def test_the_window_slides() -> None:
    clock = Clock()
    window = SlidingWindow(1, 10, clock=clock)
    assert window.hit("k") is None
    clock.now += 10
    assert window.hit("k") is None


def test_keys_are_counted_apart() -> None:
    window = SlidingWindow(1, 10, clock=Clock())
    assert window.hit("a") is None
    assert window.hit("b") is None
    assert window.hit("a") is not None


def test_memory_is_bounded_by_forgetting_the_least_recent_keys() -> None:
    window = SlidingWindow(1, 10, max_keys=2, clock=Clock())
    for key in ("a", "b", "c"):
        window.hit(key)
    assert window.hit("a") is None  # forgotten, so counted afresh
