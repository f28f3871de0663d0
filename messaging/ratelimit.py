"""The dispatcher's rate limiter: a global budget per channel and a budget per recipient key.

python-telegram-bot's ``AIORateLimiter`` has no per-chat limit, lets a full second of requests
out at start, and pauses every chat on one 429. This limiter does three things differently:

* Every budget is a token bucket with a small burst (by default a tenth of a second's worth, at
  least one message). The first second therefore sends at most ``rate + burst`` (``1.1 x
  rate`` from 10/s up), where ``AIORateLimiter`` sends ``2 x rate``.
* A send needs a token from its key's bucket (a Telegram chat id, an SMS sender number) and one
  from the channel's global bucket. The key is served first; the global token is taken only
  once the key is ready, and both are spent together. A hot chat with a queue of messages
  therefore never sits on a global token while it waits for its own bucket, and other chats
  keep flowing.
* ``penalize`` honours a provider's ``retry_after`` for one key (Telegram flood control is per
  chat) or for the whole channel (a Twilio account-level 429); other keys keep going.
* ``refund`` gives a turn back when its send was called off after it came (the customer opted
  out, quiet hours began): the sleeping senders wake and the next one goes in its place, so a
  batch straddling 21:00 at 1 SMS/s does not spend a second on each message it holds back.

Per-key buckets are created on first use and dropped once idle (full again, no penalty left,
nobody waiting). A full bucket is exactly what a new one would be, so eviction forgets nothing
and memory follows the keys active in the last few seconds, not every key ever seen.

Several dispatcher processes sharing one provider budget
--------------------------------------------------------
Each worker takes a fixed share: ``RateLimiter(rate, per_key_rate, share=1 / workers)``. Both
the global and the per-key rates are multiplied by ``share``, because any worker may claim the
outbox rows of any chat. This needs no coordination, no shared state and no round trip per
message, which is why it was chosen over a shared bucket in the database or Redis. Its costs,
accepted to keep it simple:

* a worker's unused share is not lent to the others, so an uneven load runs below the
  provider's limit, and a single chat's queue drains ``workers`` times slower;
* each worker's burst is at least one message, so ``workers`` sends can coincide at start;
* a 429 seen by one worker pauses only that worker; the others back off on their own 429s.

If claims are partitioned by key (say ``hash(key) % workers``), pass
``per_key_rate / share`` so that each chat keeps its full per-key rate.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager

__all__ = ["RateLimiter", "TokenBucket", "default_burst"]

# Float time arithmetic leaves residues of ~1e-15 s; without a floor, a waiter could be told to
# sleep for such a residue and, under a test clock that does not move, wake up to the same answer.
_EPSILON = 1e-6

# Idle keys are swept a few at a time on every touch, so eviction never costs one long pause.
_SWEEP_PER_TOUCH = 4


def default_burst(rate: float) -> float:
    """Return a tenth of a second's worth of sends, and at least one (else nothing could go)."""
    return max(1.0, rate / 10)


class TokenBucket:
    """A token bucket that refills at ``rate`` per second and holds at most ``burst`` tokens.

    It is stored as one timestamp (the generic cell rate algorithm): ``_full_at``, the moment the
    bucket will be full again. Unlike a token count refreshed on every call, this accumulates no
    rounding error, and a penalty or an idleness check is a plain comparison of times.
    """

    __slots__ = ("_full_at", "_interval", "_tolerance", "burst", "rate")

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        burst = default_burst(rate) if burst is None else burst
        if not burst >= 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._full_at = float("-inf")

    def wait(self, now: float, ahead: int = 0) -> float:
        """Return the seconds from ``now`` until a token is free, after ``ahead`` other takers."""
        delay = self._full_at + ahead * self._interval - self._tolerance - now
        return delay if delay > _EPSILON else 0.0

    def take(self, now: float) -> None:
        """Spend one token; the caller has checked that ``wait(now)`` is zero."""
        self._full_at = max(self._full_at, now) + self._interval

    def give_back(self, now: float) -> None:
        """Undo one ``take`` whose send did not happen; a penalty is never shortened.

        Outside a penalty the bucket owes at most one interval beyond its burst (a token is
        only taken when one is free), so owing more means ``block_until`` set it.
        """
        if self._full_at - now <= self._tolerance + self._interval + _EPSILON:
            self._full_at -= self._interval

    def block_until(self, until: float) -> None:
        """Allow no token before ``until``, and no burst right after it.

        Restarting empty rather than full spares a provider that just said "slow down" a
        burst the moment the pause ends.
        """
        self._full_at = max(self._full_at, until + self._tolerance)

    def is_full(self, now: float) -> bool:
        """Tell whether the bucket is as a new one would be (so it can be forgotten)."""
        return self._full_at <= now


class _KeyState:
    """One key's bucket, the lock that queues its senders, and how many are inside acquire."""

    __slots__ = ("bucket", "lock", "users")

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket
        self.lock = asyncio.Lock()
        self.users = 0


class RateLimiter:
    """A global token bucket plus one token bucket per key, both waited on before each send.

    ``rate`` is the channel's overall limit (Telegram: 30/s) and ``per_key_rate`` the limit per
    key (Telegram: 1/s per chat; SMS: per sender number). Bursts default to
    :func:`default_burst` of the (shared) rates; an explicit burst is this worker's own.
    ``share`` is this worker's fraction of the budget (see the module docstring).
    ``clock`` and ``sleep`` are injectable so tests run on virtual time.
    """

    def __init__(
        self,
        rate: float,
        per_key_rate: float,
        *,
        burst: float | None = None,
        per_key_burst: float | None = None,
        share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share!r}")
        self._global = TokenBucket(rate * share, burst)
        TokenBucket(per_key_rate * share, per_key_burst)  # fail now, not at the first send
        self._per_key_rate = per_key_rate * share
        self._per_key_burst = per_key_burst
        self._clock = clock
        self._sleep = sleep
        self._global_lock = asyncio.Lock()
        self._global_waiting = 0
        self._keys: OrderedDict[Hashable, _KeyState] = OrderedDict()
        # Resolved (and replaced) by each refund: wakes every sleeper to look again.
        self._refunded: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        """Return how many per-key buckets are held in memory."""
        return len(self._keys)

    async def acquire(self, key: Hashable) -> None:
        """Wait until ``key``'s bucket and then the global bucket allow one send, and spend both.

        Senders for the same key are served in arrival order. Cancelling a waiter spends nothing.
        """
        state = self._touch(key)
        state.users += 1
        try:
            async with state.lock:
                while True:
                    await self._wait_until_ready(state.bucket)
                    if await self._take_global_then_key(state.bucket):
                        return
        finally:
            state.users -= 1

    @asynccontextmanager
    async def slot(self, key: Hashable) -> AsyncIterator[None]:
        """Open once a send to ``key`` is allowed: ``async with limiter.slot(chat_id): ...``.

        Nothing is handed back on exit: the tokens pay for the send made inside the block.
        """
        await self.acquire(key)
        yield

    def penalize(self, key: Hashable, retry_after: float, *, global_: bool = False) -> None:
        """Send nothing to ``key`` (or, with ``global_``, to anyone) for ``retry_after`` seconds.

        Telegram's flood control is per chat, so a 429 there should pause that chat only; a
        Twilio account-level 429 needs ``global_=True``. Penalties only ever lengthen a pause.
        """
        until = self._clock() + max(0.0, retry_after)
        if global_:
            self._global.block_until(until)
        else:
            self._touch(key).bucket.block_until(until)

    def refund(self, key: Hashable) -> None:
        """Give back the tokens of a send to ``key`` that was called off after ``acquire``."""
        now = self._clock()
        self._global.give_back(now)
        state = self._keys.get(key)
        if state is not None:
            state.bucket.give_back(now)
        if self._refunded is not None and not self._refunded.done():
            self._refunded.set_result(None)
        self._refunded = None

    def next_available(self, key: Hashable) -> float:
        """Estimate the seconds until a send to ``key`` would be allowed, without waiting.

        Counts the senders already queued on the key and on the global bucket, so a dispatcher
        can skip a busy key and come back to it rather than sleep on it. Creates no bucket.
        """
        now = self._clock()
        global_wait = self._global.wait(now, ahead=self._global_waiting)
        state = self._keys.get(key)
        if state is None:
            return global_wait
        return max(global_wait, state.bucket.wait(now, ahead=state.users))

    def evict_idle(self) -> int:
        """Drop every idle per-key bucket now and return how many went.

        Eviction also happens a few keys at a time on every acquire; this is for callers that
        want memory back after a broadcast without waiting for more traffic.
        """
        return self._sweep(self._clock(), len(self._keys))

    async def _wait_until_ready(self, bucket: TokenBucket) -> None:
        """Sleep until ``bucket`` has a token, re-checking because penalties can move the time."""
        while (delay := bucket.wait(self._clock())) > 0:
            await self._nap(delay)

    async def _nap(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or less if a refund frees a token meanwhile."""
        if self._refunded is None:
            self._refunded = asyncio.get_running_loop().create_future()
        refunded = self._refunded
        sleeper = asyncio.ensure_future(self._sleep(delay))
        try:
            await asyncio.wait((sleeper, refunded), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()

    async def _take_global_then_key(self, key_bucket: TokenBucket) -> bool:
        """Queue for the global bucket and spend both tokens; False if the key got penalized."""
        self._global_waiting += 1
        try:
            async with self._global_lock:
                await self._wait_until_ready(self._global)
                now = self._clock()
                if key_bucket.wait(now) > 0:
                    # Give the global turn away instead of holding it through the key's penalty.
                    return False
                self._global.take(now)
                key_bucket.take(now)
                return True
        finally:
            self._global_waiting -= 1

    def _touch(self, key: Hashable) -> _KeyState:
        """Return ``key``'s state, creating it, after sweeping a few idle keys."""
        # Sweep before fetching: a state handed out must never be evicted before use, or a
        # second lock for the same key could appear and break the per-key limit.
        self._sweep(self._clock(), _SWEEP_PER_TOUCH)
        state = self._keys.get(key)
        if state is None:
            state = _KeyState(TokenBucket(self._per_key_rate, self._per_key_burst))
            self._keys[key] = state
        else:
            self._keys.move_to_end(key)
        return state

    def _sweep(self, now: float, limit: int) -> int:
        """Look at up to ``limit`` least recently touched keys; drop the idle, requeue the rest."""
        evicted = 0
        for _ in range(min(limit, len(self._keys))):
            key, state = next(iter(self._keys.items()))
            if state.users == 0 and state.bucket.is_full(now):
                del self._keys[key]
                evicted += 1
            else:
                self._keys.move_to_end(key)
        return evicted
