"""The dispatcher: claims due outbox rows, sends them within the providers' limits, and records
every attempt. At least once, never twice for the same row (see ``messaging.outbox``).

One worker per process; several workers may share a PostgreSQL database (claims use
``FOR UPDATE SKIP LOCKED``). Each loop: turn new domain events into outbox rows, recover rows of
workers that died, claim a batch per channel sized to what the channel's rate can send well
within the lease, send concurrently, and group-commit the "sending" marks and the outcomes.
A batch drains for minutes at 1 SMS/s, so consent and quiet hours are checked again as each
message's rate-limit turn comes, with its "sending" mark (``messaging.send_gate``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from sqlalchemy.orm import Session

from messaging import outbox
from messaging.channels.base import Channel as ChannelProtocol
from messaging.channels.base import Reconciler, SendError
from messaging.db_threads import in_db_thread
from messaging.delivery_reports import apply_held_reports
from messaging.group_commit import GroupCommit
from messaging.notifier import ShopVoice, notify_pending
from messaging.quiet_hours import QuietHours
from messaging.send_gate import Turn, check_and_mark
from messaging.types import Button, OutgoingMessage
from store.db import Database
from store.models import Channel, utcnow

log = logging.getLogger(__name__)


class Limiter(Protocol):
    """The part of ``messaging.ratelimit.RateLimiter`` the dispatcher uses."""

    async def acquire(self, key: str) -> None: ...

    def penalize(self, key: str, retry_after: float, *, global_: bool = False) -> None: ...

    def refund(self, key: str) -> None: ...


class Unlimited:
    """For tests and benchmarks that measure raw throughput."""

    async def acquire(self, key: str) -> None:
        return None

    def penalize(self, key: str, retry_after: float, *, global_: bool = False) -> None:
        return None

    def refund(self, key: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    quiet_hours: QuietHours
    rates: Mapping[Channel, float]  # messages per second, used to size batches
    voice: ShopVoice
    batch_size: int = 500
    concurrency: int = 200
    lease: dt.timedelta = dt.timedelta(minutes=5)
    poll_interval: float = 0.5
    # How long a group commit stays open for more rows (see messaging.group_commit). The
    # "sending" mark delays its request by at most this (two sends to one chat can come this
    # much closer than the limiter spaced them); a worker killed meanwhile leaves the rows
    # "claimed", which come back as pending: nothing had left. Outcomes open no lingering
    # group (they join one that is open): a worker killed before its outcomes are written
    # leaves sent rows "unknown" (to reconcile, or for a person on Telegram); with outcomes
    # lingering 100 ms, one chaos run on PostgreSQL ended with 276 rows unknown (47 without).
    sending_linger: float = 0.02
    housekeeping_interval: float = 30.0
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


@dataclass(slots=True)
class DispatchStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    notified: int = 0

    def add(self, other: DispatchStats) -> None:
        self.outcomes.update(other.outcomes)
        self.notified += other.notified


class Dispatcher:
    def __init__(
        self,
        db: Database,
        channels: Mapping[Channel, ChannelProtocol],
        limiters: Mapping[Channel, Limiter],
        config: DispatchConfig,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._db = db
        self._channels = channels
        self._limiters = limiters
        self._config = config
        self._clock = clock
        self._stopping = asyncio.Event()
        # One journal for "sending" marks and outcomes: an outcome rides along with the marks
        # being written (one thread hop and one transaction for both; at 30 sends/s that was
        # a third of the CPU); only marks make a group linger.
        self._journal = GroupCommit[Turn | outbox.Outcome](
            self._write_journal, linger=config.sending_linger
        )
        self._waiting_for_limiter: set[asyncio.Task[object]] = set()
        # Running totals of the current ``run_once``, message by message, for a progress display
        # (the stats ``run_once`` returns only grow batch by batch).
        self.live = DispatchStats()

    @property
    def worker_id(self) -> str:
        return self._config.worker_id

    def stop(self) -> None:
        """Finish the sends in flight, hand unsent claims back, and leave ``run``.

        Sends still waiting for the rate limiter give up at once: at 1 SMS/s a batch could
        otherwise keep a SIGTERM waiting for minutes.
        """
        self._stopping.set()
        for task in self._waiting_for_limiter:
            task.cancel()

    async def run_once(
        self, progress: Callable[[DispatchStats], None] | None = None
    ) -> DispatchStats:
        """Drain everything due now (new events included) and return; retries due later wait.

        ``progress`` hears the running totals after each round; ``live`` has them sooner."""
        stats = DispatchStats()
        self.live = DispatchStats()
        await self._housekeeping()
        while not self._stopping.is_set():
            round_stats = await self._round()
            stats.add(round_stats)
            if progress is not None and (round_stats.outcomes or round_stats.notified):
                progress(stats)
            if not round_stats.outcomes and not round_stats.notified:
                break
        await self._close_groups()
        return stats

    async def run(self) -> DispatchStats:
        """Work until ``stop()``; poll when idle, recover dead workers' rows periodically."""
        stats = DispatchStats()
        loop = asyncio.get_running_loop()
        next_housekeeping = 0.0
        while not self._stopping.is_set():
            if loop.time() >= next_housekeeping:
                await self._housekeeping()
                next_housekeeping = loop.time() + self._config.housekeeping_interval
            round_stats = await self._round()
            stats.add(round_stats)
            if not round_stats.outcomes and not round_stats.notified:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._config.poll_interval)
        await self._close_groups()
        return stats

    async def _round(self) -> DispatchStats:
        stats = DispatchStats()
        stats.notified = await in_db_thread(self._notify)
        self.live.notified += stats.notified
        batches = await in_db_thread(self._claim_all)
        for channel, claimed in batches.items():
            # Counter.update skips nothing, so zero counts would make an idle round look busy.
            held_back = {
                k: v for k, v in (("skipped", claimed.skipped), ("deferred", claimed.deferred)) if v
            }
            stats.outcomes.update(held_back)
            self.live.outcomes.update(held_back)
            if claimed.ready:
                stats.outcomes.update(await self._send_batch(channel, claimed.ready))
        return stats

    # ---- database work (runs in threads) ----

    async def _housekeeping(self) -> None:
        await in_db_thread(self._recover_leases)
        for channel, sender in self._channels.items():
            if isinstance(sender, Reconciler):
                await self._reconcile(channel, sender)
        # Last: reconciliation may just have written down the id a held report waits for.
        await in_db_thread(self._apply_held_reports)

    async def _reconcile(self, channel: Channel, sender: Reconciler) -> None:
        """Ask the provider about sends whose answer was lost; resend only what it lacks."""
        rows = await in_db_thread(self._unknown_rows, channel)
        if not rows:
            return
        found: dict[int, str | None] = {}
        for row in rows:
            probe = OutgoingMessage(channel=channel, address=row.address, text=row.body)
            try:
                found[row.id] = await sender.find_sent(probe, row.created_at)
            except SendError as exc:
                log.warning("could not reconcile outbox row %s: %s", row.id, exc)
        if found:
            await in_db_thread(self._settle, found)

    def _unknown_rows(self, channel: Channel) -> list[outbox.Unresolved]:
        with self._db.read_session() as session:
            return outbox.unknown_to_reconcile(session, channel, self._clock())

    def _settle(self, found: dict[int, str | None]) -> None:
        self._db.transaction(
            lambda s: outbox.settle_unknown(s, found, self.worker_id, self._clock())
        )

    def _apply_held_reports(self) -> None:
        """Delivery reports that came before a worker had written their message's id down."""
        applied, forgotten = self._db.transaction(lambda s: apply_held_reports(s, self._clock()))
        if applied or forgotten:
            log.info(
                "held delivery reports: %d applied, %d unmatched forgotten", applied, forgotten
            )

    def _recover_leases(self) -> None:
        returned, unknown = self._db.transaction(
            lambda s: outbox.recover_expired_leases(s, self._clock())
        )
        if returned or unknown:
            log.warning(
                "recovered rows of stopped workers: %d returned to pending, %d unknown",
                returned,
                unknown,
            )

    def _notify(self) -> int:
        total = 0
        while True:
            result = self._db.transaction(
                lambda s: notify_pending(s, self._config.voice, self._clock())
            )
            total += result.queued
            if result.events == 0:
                return total

    def _claim_all(self) -> dict[Channel, outbox.ClaimResult]:
        return {
            channel: self._db.transaction(partial(self._claim, channel=channel))
            for channel in self._channels
        }

    def _claim(self, session: Session, *, channel: Channel) -> outbox.ClaimResult:
        return outbox.claim(
            session,
            worker=self.worker_id,
            limit=self._batch_limit(channel),
            now=self._clock(),
            lease=self._config.lease,
            quiet_hours=self._config.quiet_hours,
            channels=[channel],
        )

    def _batch_limit(self, channel: Channel) -> int:
        # A batch must be sent well within its lease, or another worker would think us dead.
        rate = self._config.rates.get(channel, 30.0)
        sendable = int(rate * self._config.lease.total_seconds() / 4)
        return max(1, min(self._config.batch_size, sendable))

    def _write_journal(self, items: Sequence[Turn | outbox.Outcome]) -> None:
        # The checks, the "sending" marks and the outcomes in one transaction, run again whole
        # on a deadlock. Different rows: an outcome's mark was committed in an earlier group.
        turns = [item for item in items if isinstance(item, Turn)]
        outcomes = [item for item in items if isinstance(item, outbox.Outcome)]

        def work(session: Session) -> None:
            if outcomes:
                outbox.record_outcomes(session, outcomes, self.worker_id, self._clock())
            check_and_mark(session, turns, self.worker_id, self._config.quiet_hours)

        self._db.transaction(work)

    def _renew_leases(self) -> None:
        self._db.transaction(
            lambda s: outbox.renew_leases(s, self.worker_id, self._clock(), self._config.lease)
        )

    def _release(self, ids: Sequence[int]) -> None:
        self._db.transaction(lambda s: outbox.release_claims(s, ids, self.worker_id))

    async def _close_groups(self) -> None:
        await self._journal.close()

    # ---- sending ----

    async def _send_batch(self, channel: Channel, batch: Sequence[outbox.Claimed]) -> Counter[str]:
        # A fixed pool of senders drawing from the batch, rather than a task per message behind
        # a semaphore: the same bound on requests in flight, without 500 tasks and a waiter
        # queue that asyncio scans on every acquire.
        results: list[str | None] = [None] * len(batch)
        written: list[asyncio.Future[bool]] = []
        queue = iter(enumerate(batch))
        workers = min(self._config.concurrency, len(batch))
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await asyncio.gather(
                *(self._sender(channel, queue, results, written) for _ in range(workers))
            )
            await self._journal.flush()
            # Raises what writing an outcome raised, as waiting for each one would have.
            await asyncio.gather(*written)
        finally:
            heartbeat.cancel()
        unsent = [m.id for m, kind in zip(batch, results, strict=True) if kind is None]
        if unsent:
            await in_db_thread(self._release, unsent)
        return Counter(kind or "released" for kind in results)

    async def _sender(
        self,
        channel: Channel,
        queue: Iterator[tuple[int, outbox.Claimed]],
        results: list[str | None],
        written: list[asyncio.Future[bool]],
    ) -> None:
        for index, message in queue:
            if self._stopping.is_set():
                return  # the rest stay None: handed back unsent
            kind = results[index] = await self._send_one(channel, message, written)
            self.live.outcomes[kind or "released"] += 1

    async def _heartbeat(self) -> None:
        """Renew our leases while a batch is slow (rate limits, 429 pauses, a slow provider)."""
        period = self._config.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            await in_db_thread(self._renew_leases)

    async def _send_one(
        self, channel: Channel, message: outbox.Claimed, written: list[asyncio.Future[bool]]
    ) -> str | None:
        limiter = self._limiters[channel]
        key = _rate_key(message)
        if self._stopping.is_set() or not await self._wait_for_turn(limiter, key):
            return None
        # Consent and quiet hours as they are now, not as they were at claim time.
        turn = Turn(message, self._clock())
        await self._journal.add(turn)
        if turn.verdict == "taken_over":
            # Our claim lapsed and another worker holds the row now: sending would
            # deliver it twice.
            log.warning("outbox row %s was taken over by another worker", message.id)
            return "taken_over"
        if turn.verdict != "send":
            # Held back after its turn came: it gives its place to the next message.
            limiter.refund(key)
            return turn.verdict
        outcome = await self._deliver(channel, message)
        if outcome.retry_after is not None:
            # Telegram's flood control is per chat; Twilio's 429 is for the whole account.
            limiter.penalize(key, outcome.retry_after, global_=channel == Channel.SMS)
        # Not awaited here: this sender moves on; the batch waits for every outcome at its end.
        written.append(self._journal.submit(outcome, linger=False))
        return outcome.kind

    async def _wait_for_turn(self, limiter: Limiter, key: str) -> bool:
        """Wait for the rate limiter; False when ``stop()`` interrupted the wait."""
        task = asyncio.current_task()
        assert task is not None
        self._waiting_for_limiter.add(task)
        try:
            await limiter.acquire(key)
        except asyncio.CancelledError:
            if not self._stopping.is_set():
                raise
            task.uncancel()
            return False
        finally:
            self._waiting_for_limiter.discard(task)
        return not self._stopping.is_set()

    async def _deliver(self, channel: Channel, message: outbox.Claimed) -> outbox.Outcome:
        outgoing = OutgoingMessage(
            channel=channel,
            address=message.address,
            text=message.body,
            buttons=tuple(Button(label, data) for label, data in message.buttons or []),
            reference=str(message.id),
        )
        try:
            provider_id = await self._channels[channel].send(outgoing)
        except SendError as exc:
            return outbox.Outcome(
                message,
                _kind(exc),
                reason=exc.reason,
                detail=exc.detail,
                retry_after=exc.retry_after,
            )
        except Exception as exc:
            # A bug, not a provider answer: the request may have left, so do not resend blindly.
            log.exception("channel %s raised unexpectedly for outbox row %s", channel, message.id)
            return outbox.Outcome(message, "unknown", reason="internal_error", detail=repr(exc))
        return outbox.Outcome(message, "sent", provider_id=provider_id)


def _kind(error: SendError) -> outbox.OutcomeKind:
    if error.outcome_unknown:
        return "unknown"
    if error.permanent:
        return "failed"
    return "retry"


def _rate_key(message: outbox.Claimed) -> str:
    # Telegram limits each chat; SMS limits each sending number, and we send from one.
    return message.address if message.channel == Channel.TELEGRAM else "sender"
