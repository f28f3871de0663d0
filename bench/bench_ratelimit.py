"""How closely the dispatcher's rate limiter keeps to Telegram's limits, on the real clock.

200 concurrent senders each pick a random chat out of 500 for every message and wait for the
limiter before "sending" (recording the time). Measured, with their targets:

* achieved rate over the run: within 3% of the 30/s limit;
* sends in the first second: at most 1.2 x 30 = 36 (no burst of a full second);
* most sends to one chat in any 1-second window: at most 1 (Telegram's per-chat limit).

The same figures are printed for python-telegram-bot's ``AIORateLimiter`` when ``aiolimiter``
is importable, for comparison; it is expected to miss the last two.

    python bench/bench_ratelimit.py [--seconds 20] [--senders 200] [--chats 500] [--rate 30]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import importlib.util
import itertools
import random
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from messaging.ratelimit import RateLimiter  # noqa: E402

RATE_TOLERANCE = 0.03
FIRST_SECOND_FACTOR = 1.2
PER_CHAT_MAX = 1
SEED = 20240601

# Waits for permission to send to one chat; the bench then records the send's time.
Acquire = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Figures:
    """What one run measured."""

    name: str
    rate: float
    first_second: int
    max_per_chat: int
    min_chat_gap: float
    cpu_s: float


async def drive(
    acquire: Acquire, seconds: float, senders: int, chats: int
) -> list[tuple[float, int]]:
    """Run the senders for ``seconds`` and return (time since start, chat) for every send."""
    rng = random.Random(SEED)
    sent: list[tuple[float, int]] = []
    start = time.monotonic()

    async def sender() -> None:
        while True:
            chat = rng.randrange(chats)
            await acquire(chat)
            sent.append((time.monotonic() - start, chat))

    tasks = [asyncio.create_task(sender()) for _ in range(senders)]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return [(t, chat) for t, chat in sent if t < seconds]


def most_in_one_second(times: list[float]) -> int:
    """Return the most sends inside any half-open window [t, t + 1 s)."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0)


def measure(name: str, sent: list[tuple[float, int]], seconds: float, cpu_s: float) -> Figures:
    """Turn the send log into the figures the targets are about."""
    per_chat: dict[int, list[float]] = defaultdict(list)
    for t, chat in sent:
        per_chat[chat].append(t)
    gaps = [b - a for times in per_chat.values() for a, b in itertools.pairwise(times)]
    return Figures(
        name=name,
        rate=len(sent) / seconds,
        first_second=sum(1 for t, _ in sent if t < 1.0),
        max_per_chat=max((most_in_one_second(times) for times in per_chat.values()), default=0),
        min_chat_gap=min(gaps, default=float("inf")),
        cpu_s=cpu_s,
    )


async def timed(name: str, acquire: Acquire, args: argparse.Namespace) -> Figures:
    """Drive one limiter and measure it."""
    cpu = time.process_time()
    sent = await drive(acquire, args.seconds, args.senders, args.chats)
    return measure(name, sent, args.seconds, time.process_time() - cpu)


def ours(rate: float) -> Acquire:
    """Our limiter, configured as the Telegram dispatcher uses it."""
    return RateLimiter(rate, per_key_rate=1).acquire


def ptb(rate: float) -> Acquire | None:
    """python-telegram-bot's AIORateLimiter, driven as PTB's Bot drives it; None if unavailable."""
    if importlib.util.find_spec("aiolimiter") is None:
        return None
    from telegram.ext import AIORateLimiter

    limiter = AIORateLimiter(overall_max_rate=rate, overall_time_period=1)

    async def sent_ok(*_: Any, **__: Any) -> dict[str, Any]:
        return {}

    async def acquire(chat: int) -> None:
        # Positive chat ids are private chats: PTB applies only its overall limit to them.
        await limiter.process_request(
            sent_ok, (), {}, "sendMessage", {"chat_id": chat}, rate_limit_args=None
        )

    return acquire


def report(figures: Figures, rate: float) -> bool:
    """Print each figure next to its target; return whether all pass."""
    checks = [
        (
            "achieved rate (msg/s)",
            f"{figures.rate:.2f}",
            f"{rate:g} ± {RATE_TOLERANCE:.0%}",
            abs(figures.rate - rate) <= RATE_TOLERANCE * rate,
        ),
        (
            "sends in the first second",
            str(figures.first_second),
            f"<= {FIRST_SECOND_FACTOR * rate:g}",
            figures.first_second <= FIRST_SECOND_FACTOR * rate,
        ),
        (
            "max sends to one chat in any 1 s",
            str(figures.max_per_chat),
            f"<= {PER_CHAT_MAX}",
            figures.max_per_chat <= PER_CHAT_MAX,
        ),
    ]
    print(f"\n{figures.name}")
    for label, value, target, ok in checks:
        print(f"  {label:<34} {value:>8}   target {target:<10} {'PASS' if ok else 'FAIL'}")
    gap = "n/a" if figures.min_chat_gap == float("inf") else f"{figures.min_chat_gap:.3f}s"
    print(f"  {'shortest gap between sends to a chat':<34} {gap:>8}")
    print(f"  {'CPU':<34} {figures.cpu_s:>7.2f}s")
    return all(ok for *_, ok in checks)


async def main() -> int:
    """Run ours, then PTB's if it can be imported; exit 1 if ours misses a target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--rate", type=float, default=30.0)
    args = parser.parse_args()
    print(
        f"{args.senders} senders, {args.chats} chats, limit {args.rate:g}/s overall and "
        f"1/s per chat, {args.seconds:g} s per limiter (real clock)"
    )

    passed = report(
        await timed("messaging.ratelimit.RateLimiter", ours(args.rate), args), args.rate
    )
    theirs = ptb(args.rate)
    if theirs is None:
        print("\npython-telegram-bot AIORateLimiter: skipped, aiolimiter is not installed")
    else:
        report(await timed("python-telegram-bot AIORateLimiter", theirs, args), args.rate)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
