"""Working the write-back jobs: claim what is due, call Shopify, record what happened.

Each job is claimed in one short transaction (a lease, ``store.shopify_jobs.claim_due``), sent
with no transaction open, and its outcome recorded in another: done (with what Shopify
answered), due again later (a 429, a 5xx, a timeout, a throttle that outlasted the client's
waits: exponential backoff with jitter, never sooner than Shopify's ``Retry-After``), or dead
with the reason (``userErrors``, a query refused, a missing scope, a revoked token, or
``max_attempts`` tries used up). Dead jobs are listed by ``backorder-bot shopify jobs`` and made
due again by ``shopify jobs retry``.

A worker that dies mid-job leaves the job claimed until its lease runs out; then it is due
again and the write runs once more, which is safe: every write checks before it writes
(``operations``). The client waits for Shopify's cost bucket between calls, so a batch of jobs
never runs into the rate limit.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.integrations.shopify.admin_client import AdminClient, AdminError
from bot.integrations.shopify.operations import PERFORMERS, Job
from store import shopify_jobs
from store.db import Database
from store.models import utcnow
from store.tables_shopify import ShopifyJob

__all__ = ["DEFAULT_MAX_ATTEMPTS", "RunSummary", "WriteBack", "retry_delay"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 8
LEASE = dt.timedelta(minutes=5)
BASE_DELAY_S = 30.0
MAX_DELAY_S = 3600.0


def retry_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds before try ``attempt + 1``: 30 s doubling to an hour, with 50-100% jitter."""
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** (attempt - 1))
    return ceiling * (0.5 + rng() / 2)


@dataclass(slots=True)
class RunSummary:
    done: int = 0
    retrying: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def worked(self) -> int:
        return self.done + self.retrying + self.dead


class WriteBack:
    """Runs due write-back jobs against one shop's Admin API."""

    def __init__(
        self,
        db: Database,
        client: AdminClient,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._db = db
        self._client = client
        self._max_attempts = max_attempts
        self._clock = clock
        self._rng = rng

    def run_due(self, limit: int = 50) -> RunSummary:
        """Work every job due now, up to ``limit``, one after the other."""
        summary = RunSummary()
        now = self._clock()
        claimed = self._db.transaction(
            lambda session: shopify_jobs.claim_due(session, now, LEASE, limit)
        )
        for job_id in claimed:
            self._run(job_id, summary)
        return summary

    def _run(self, job_id: int, summary: RunSummary) -> None:
        with self._db.read_session() as session:
            row = session.get(ShopifyJob, job_id)
            assert row is not None
            job = Job(row.id, row.kind, row.shopify_order_id, dict(row.payload))
            attempts = row.attempts
        try:
            result = PERFORMERS[job.kind](self._client, job, self._clock())
        except AdminError as exc:
            self._failed(job, attempts, exc, summary)
            return
        self._db.transaction(
            lambda session: shopify_jobs.finish_job(
                session, job.id, now=self._clock(), done=True, result=result
            )
        )
        summary.done += 1

    def _failed(self, job: Job, attempts: int, exc: AdminError, summary: RunSummary) -> None:
        now = self._clock()
        reason = str(exc)
        retry_at = None
        if not exc.permanent and attempts < self._max_attempts:
            delay = max(retry_delay(attempts, self._rng), exc.retry_after or 0.0)
            retry_at = now + dt.timedelta(seconds=delay)
        elif not exc.permanent:
            reason = f"gave up after {attempts} tries: {reason}"
        self._db.transaction(
            lambda session: shopify_jobs.finish_job(
                session, job.id, now=now, done=False, error=reason, retry_at=retry_at
            )
        )
        if retry_at is None:
            summary.dead += 1
            logger.warning("Shopify job %d (%s) is dead: %s", job.id, job.kind.value, reason)
        else:
            summary.retrying += 1
            logger.info("Shopify job %d (%s) failed, retrying: %s", job.id, job.kind.value, reason)
        summary.errors.append(f"job {job.id}: {reason}")
