"""The dispatcher's rate limiter, on virtual time: no test sleeps for real."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator

import pytest

from messaging.ratelimit import RateLimiter, TokenBucket, default_burst

# Enough loop turns for a woken waiter to pass a lock on and the next one to go back to sleep.
SETTLE_TURNS = 20


class VirtualTime:
    """A clock and a sleep for the limiter; ``advance_to`` moves time and wakes the sleepers."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + delay, next(self._order), future))
        await future

    async def advance_to(self, deadline: float) -> None:
        await _settle()
        while self._timers and self._timers[0][0] <= deadline:
            when, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not future.done():
                future.set_result(None)
            if not self._timers or self._timers[0][0] > self.now:
                await _settle()
        self.now = max(self.now, deadline)
        await _settle()


async def _settle() -> None:
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def make_limiter(vt: VirtualTime) -> Callable[..., RateLimiter]:
    def make(rate: float = 30, per_key_rate: float = 1, **kwargs: float) -> RateLimiter:
        return RateLimiter(rate, per_key_rate, clock=vt.clock, sleep=vt.sleep, **kwargs)

    return make


Sent = list[tuple[float, Hashable]]


def start_senders(
    limiter: RateLimiter, vt: VirtualTime, keys: Iterable[Iterator[Hashable]], sent: Sent
) -> list[asyncio.Task[None]]:
    """One task per key iterator; each acquires for its next key and records the send time."""

    async def sender(own_keys: Iterator[Hashable]) -> None:
        for key in own_keys:
            await limiter.acquire(key)
            sent.append((vt.now, key))

    return [asyncio.create_task(sender(k)) for k in keys]


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def distinct_keys(sender: int) -> Iterator[Hashable]:
    """Never the same key twice, so only the global bucket binds."""
    return ((sender, n) for n in itertools.count())


def times_in(sent: Sent, start: float, end: float, key: Hashable | None = None) -> list[float]:
    return [t for t, k in sent if start <= t < end and (key is None or k == key)]


async def run(
    limiter: RateLimiter, vt: VirtualTime, keys: Iterable[Iterator[Hashable]], until: float
) -> Sent:
    sent: Sent = []
    tasks = start_senders(limiter, vt, keys, sent)
    await vt.advance_to(until)
    await stop(tasks)
    return sent


def test_default_burst_is_a_tenth_of_a_second_and_at_least_one() -> None:
    assert default_burst(30) == 3
    assert default_burst(1) == 1
    assert TokenBucket(300).burst == 30


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1, None), (10, 0.5)])
def test_bucket_rejects_non_positive_rate_and_burst_below_one(
    rate: float, burst: float | None
) -> None:
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate, burst)


@pytest.mark.parametrize("share", [0, -0.5, 1.5])
def test_limiter_rejects_share_outside_zero_to_one(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        RateLimiter(30, 1, share=share)


@pytest.mark.asyncio
async def test_steady_state_rate_is_the_configured_rate(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    sent = await run(make_limiter(rate=30), vt, (distinct_keys(i) for i in range(50)), 16)

    assert len(times_in(sent, 5.01, 15.01)) == 300


@pytest.mark.asyncio
async def test_first_second_sends_the_burst_then_the_rate_not_a_full_second_at_once(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    sent = await run(make_limiter(rate=30), vt, (distinct_keys(i) for i in range(200)), 2)

    assert len(times_in(sent, 0, 1e-9)) == 3
    assert len(times_in(sent, 0, 1)) <= 1.2 * 30


@pytest.mark.asyncio
async def test_one_key_gets_at_most_one_send_per_second(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    sent = await run(
        make_limiter(per_key_rate=1), vt, (itertools.repeat("chat") for _ in range(5)), 10.5
    )

    times = [t for t, _ in sent]
    assert len(times) == 11
    assert min(b - a for a, b in itertools.pairwise(times)) == pytest.approx(1.0)


@pytest.mark.asyncio
async def test_hot_key_does_not_starve_other_keys(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    limiter = make_limiter(rate=10, per_key_rate=1)
    hot = [iter(["hot"]) for _ in range(50)]
    others = [iter([f"chat-{i}"]) for i in range(9)]

    # The hot key's 50 senders queue first; with the global token taken before the key's,
    # they would hold the channel for 50 s.
    sent = await run(limiter, vt, [*hot, *others], 5)

    other_times = [t for t, k in sent if k != "hot"]
    assert len(other_times) == 9
    assert max(other_times) < 1.0


@pytest.mark.asyncio
async def test_penalize_one_key_pauses_only_that_key(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    limiter = make_limiter(rate=30, per_key_rate=1)
    sent: Sent = []
    tasks = start_senders(limiter, vt, [itertools.repeat("a"), itertools.repeat("b")], sent)
    await vt.advance_to(2.5)

    limiter.penalize("a", 5)
    await vt.advance_to(9)
    await stop(tasks)

    assert times_in(sent, 2.5, 7.5, key="a") == []
    assert times_in(sent, 7.5, 9, key="a") == [7.5, 8.5]
    assert len(times_in(sent, 2.5, 7.5, key="b")) == 5


@pytest.mark.asyncio
async def test_global_penalize_pauses_every_key(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    limiter = make_limiter(rate=30, per_key_rate=1)
    sent: Sent = []
    tasks = start_senders(limiter, vt, (distinct_keys(i) for i in range(20)), sent)
    await vt.advance_to(2.5)

    limiter.penalize("any", 5, global_=True)
    await vt.advance_to(9)
    await stop(tasks)

    assert times_in(sent, 2.5, 7.5) == []
    assert times_in(sent, 7.5, 7.5 + 1e-9) == [7.5]  # one send at the end, no burst
    assert len(times_in(sent, 7.5, 8.49)) == 30


@pytest.mark.asyncio
async def test_idle_keys_are_evicted_so_memory_follows_active_keys(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    limiter = make_limiter(rate=1_000_000, per_key_rate=1)
    largest = 0

    # 100 new keys a second, each busy for 1 s after its send: about 100 are active at once.
    for n in range(20_000):
        vt.now = n / 100
        await limiter.acquire(n)
        largest = max(largest, len(limiter))

    assert largest <= 150


@pytest.mark.asyncio
async def test_evict_idle_drops_idle_keys_and_keeps_penalized_ones(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    limiter = make_limiter(rate=1_000_000, per_key_rate=1)
    for n in range(100):
        await limiter.acquire(n)
    limiter.penalize("slow", 30)
    vt.now = 2

    assert limiter.evict_idle() == 100
    assert len(limiter) == 1
    assert limiter.next_available("slow") == pytest.approx(28)


@pytest.mark.asyncio
async def test_share_divides_the_global_rate_between_workers(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    limiter = make_limiter(rate=30, share=0.25)

    sent = await run(limiter, vt, (distinct_keys(i) for i in range(50)), 16)

    assert len(times_in(sent, 5.01, 15.01)) == 75


@pytest.mark.asyncio
async def test_share_divides_the_per_key_rate_between_workers(
    make_limiter: Callable[..., RateLimiter],
) -> None:
    limiter = make_limiter(per_key_rate=1, share=0.25)

    await limiter.acquire("chat")

    assert limiter.next_available("chat") == pytest.approx(4)


@pytest.mark.asyncio
async def test_cancelling_a_waiter_on_its_key_spends_no_token(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    limiter = make_limiter(rate=30, per_key_rate=1)
    sent: Sent = []
    first, doomed, last = start_senders(limiter, vt, [iter(["k"]) for _ in range(3)], sent)
    await vt.advance_to(0.5)

    doomed.cancel()
    await vt.advance_to(5)

    assert [t for t, _ in sent] == [0, 1]
    assert doomed.cancelled()
    assert first.done()
    assert last.done()


@pytest.mark.asyncio
async def test_cancelling_a_waiter_on_the_global_bucket_spends_no_token(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    limiter = make_limiter(rate=1, per_key_rate=1)
    sent: Sent = []
    _, doomed, _ = tasks = start_senders(limiter, vt, [iter([k]) for k in "abc"], sent)
    await vt.advance_to(0.5)

    doomed.cancel()
    await vt.advance_to(5)
    await stop(tasks)

    assert sent == [(0, "a"), (1, "c")]
    assert limiter.next_available("b") == 0


@pytest.mark.asyncio
async def test_next_available_reports_the_wait_without_waiting_or_creating_a_bucket(
    make_limiter: Callable[..., RateLimiter],
) -> None:
    limiter = make_limiter(rate=30, per_key_rate=1)
    await limiter.acquire("busy")

    assert limiter.next_available("busy") == pytest.approx(1)
    assert limiter.next_available("never-seen") == 0
    assert len(limiter) == 1


@pytest.mark.asyncio
async def test_next_available_counts_senders_already_queued_on_the_key(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    limiter = make_limiter(rate=30, per_key_rate=1)
    tasks = start_senders(limiter, vt, [iter(["k"]) for _ in range(3)], [])
    await vt.advance_to(0)

    assert limiter.next_available("k") == pytest.approx(3)
    await stop(tasks)


@pytest.mark.asyncio
async def test_slot_opens_once_the_key_allows_a_send(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    limiter = make_limiter(rate=30, per_key_rate=1)
    opened: list[float] = []

    async def send() -> None:
        async with limiter.slot("chat"):
            opened.append(vt.now)

    tasks = [asyncio.create_task(send()) for _ in range(2)]
    await vt.advance_to(3)
    await asyncio.gather(*tasks)

    assert opened == [0, 1]


@pytest.mark.asyncio
async def test_a_refunded_turn_goes_to_the_next_sender_at_once(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    # The dispatcher held the first message back after its turn came (quiet hours began).
    limiter = make_limiter(rate=1, per_key_rate=1)
    sent: Sent = []
    tasks = start_senders(limiter, vt, [iter(["sender"]) for _ in range(3)], sent)
    await vt.advance_to(0)
    assert sent == [(0, "sender")]

    limiter.refund("sender")
    await vt.advance_to(0)

    assert sent == [(0, "sender"), (0, "sender")]  # no second lost, and no burst either
    await vt.advance_to(0.9)
    assert len(sent) == 2
    await stop(tasks)


@pytest.mark.asyncio
async def test_a_refund_does_not_shorten_a_providers_pause(
    vt: VirtualTime, make_limiter: Callable[..., RateLimiter]
) -> None:
    limiter = make_limiter(rate=1, per_key_rate=1)
    await limiter.acquire("sender")
    limiter.penalize("sender", 10, global_=True)
    limiter.refund("sender")
    assert limiter.next_available("sender") == pytest.approx(10)
