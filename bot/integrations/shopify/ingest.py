"""Each Shopify webhook applied exactly once, or recorded as refused with the reason.

One short transaction per delivery. It starts by claiming the webhook id: ``INSERT ... ON
CONFLICT DO NOTHING`` on the unique ``shopify_webhooks.webhook_id``. No row back means another
delivery of the same webhook already committed, and this one does nothing. Two deliveries at
once: on PostgreSQL the second's insert waits on the unique index until the first commits, then
conflicts; on SQLite writers take turns (``BEGIN IMMEDIATE``). Either way one applies it.

The topic's work (``topics``) runs in a savepoint after the claim. A refusal (``Refused``, or a
store rule: unknown SKU, a count below what is promised...) rolls the savepoint back, so nothing
of the webhook is half-written, and the claim row keeps the outcome ``refused`` and the reason:
a list a person can read (``refused_webhooks``). Shopify still gets 200, so it stops retrying a
webhook that can never succeed. Anything else (the database failing) rolls back everything,
claim included, and the route answers 500: Shopify's retry tries again. A unique violation (two
webhooks creating the same new customer at once, on PostgreSQL) re-runs the transaction: the
second run finds the row the other committed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.integrations.shopify.mapping import Refused
from bot.integrations.shopify.topics import HANDLERS, Applied, Config
from store.db import Database
from store.errors import StoreError
from store.models import ShopifyOutcome, ShopifyWebhook, utcnow

__all__ = ["Delivery", "Ingested", "ShopifyIngest", "refused_webhooks"]

logger = logging.getLogger(__name__)
MAX_REASON = 500
INTEGRITY_ATTEMPTS = 3
_TABLE = cast(Table, ShopifyWebhook.__table__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verified webhook: its headers and its JSON body (None when not a JSON object)."""

    webhook_id: str
    topic: str
    shop_domain: str | None
    payload: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Ingested:
    duplicate: bool
    outcome: ShopifyOutcome | None = None
    reason: str | None = None


class _Duplicate(Exception):
    """Another delivery of this webhook was applied first."""


class ShopifyIngest:
    """Applies verified Shopify webhooks to one database."""

    def __init__(
        self, db: Database, config: Config, *, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self._db = db
        self._config = config
        self._clock = clock

    def handle(self, delivery: Delivery) -> Ingested:
        """Apply the webhook unless a delivery of it already was; say what became of it."""
        now = self._clock()

        def work(session: Session) -> Applied:
            # Run again whole if a deadlock rolled it back (``Database.transaction``).
            resource = _resource(delivery)
            if not _claim(session, delivery, resource, now):
                raise _Duplicate
            applied = self._apply(session, delivery, resource, now)
            if (applied.outcome, applied.reason, applied.resource_id) != (
                ShopifyOutcome.HANDLED,
                None,
                resource,
            ):  # the claim wrote the common case already: one statement less for most
                session.execute(
                    _RECORD,
                    {
                        "key": delivery.webhook_id,
                        "outcome": applied.outcome,
                        "reason": applied.reason[:MAX_REASON] if applied.reason else None,
                        "resource_id": applied.resource_id[:64] if applied.resource_id else None,
                    },
                )
            return applied

        for attempt in range(INTEGRITY_ATTEMPTS):
            try:
                applied = self._db.transaction(work)
                break
            except _Duplicate:
                return Ingested(duplicate=True)
            except IntegrityError:
                # A concurrent webhook inserted the same new customer (or order number) first;
                # everything was rolled back, and the next attempt finds their row.
                if attempt + 1 == INTEGRITY_ATTEMPTS:
                    raise
        if applied.outcome is ShopifyOutcome.REFUSED:
            logger.warning(
                "Shopify webhook %s (%s) refused: %s",
                delivery.webhook_id,
                delivery.topic,
                applied.reason,
            )
        return Ingested(duplicate=False, outcome=applied.outcome, reason=applied.reason)

    def _apply(
        self, session: Session, delivery: Delivery, resource: str | None, now: dt.datetime
    ) -> Applied:
        handler = HANDLERS.get(delivery.topic)
        if handler is None:
            return Applied(ShopifyOutcome.IGNORED, reason=f"topic {delivery.topic} is not acted on")
        if delivery.payload is None:
            return Applied(ShopifyOutcome.REFUSED, reason="the body is not a JSON object")
        try:
            with session.begin_nested():
                return handler(session, delivery.payload, self._config, now)
        except (Refused, StoreError) as exc:
            return Applied(ShopifyOutcome.REFUSED, resource, str(exc))
        except (TypeError, AttributeError, KeyError) as exc:
            # A payload of an unexpected shape: retrying it cannot help either.
            return Applied(ShopifyOutcome.REFUSED, resource, f"unreadable payload ({exc!r:.200})")


def _resource(delivery: Delivery) -> str | None:
    """Which order, item or product the webhook is about, for the person reading the list."""
    if delivery.payload is None or delivery.topic not in HANDLERS:
        return None
    about = delivery.payload.get("id") or delivery.payload.get("inventory_item_id")
    return str(about)[:64] if isinstance(about, int) else None


# Prebuilt, parameters with each execution: compiled once per dialect, no per-call cache key.
_CLAIM = {
    name: insert(_TABLE)
    .on_conflict_do_nothing(index_elements=["webhook_id"])
    .returning(_TABLE.c.id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_RECORD = (
    update(_TABLE)
    .where(_TABLE.c.webhook_id == bindparam("key"))
    .values(
        outcome=bindparam("outcome"),
        reason=bindparam("reason"),
        resource_id=bindparam("resource_id"),
    )
)


def _claim(session: Session, delivery: Delivery, resource: str | None, now: dt.datetime) -> bool:
    row = {
        "webhook_id": delivery.webhook_id,
        "topic": delivery.topic[:64],
        "shop_domain": (delivery.shop_domain or None) and delivery.shop_domain[:255],
        # Provisional, overwritten before commit unless it stands: nobody else sees the row
        # until then.
        "outcome": ShopifyOutcome.HANDLED,
        "resource_id": resource,
        "received_at": now,
    }
    statement = _CLAIM[session.get_bind().dialect.name]
    return session.execute(statement, row).scalar() is not None


def refused_webhooks(db: Database, *, limit: int = 100) -> list[ShopifyWebhook]:
    """The latest refused webhooks, newest first: what an agent must look at."""
    with db.read_session() as session:
        return list(
            session.scalars(
                select(ShopifyWebhook)
                .where(ShopifyWebhook.outcome == ShopifyOutcome.REFUSED)
                .order_by(ShopifyWebhook.received_at.desc(), ShopifyWebhook.id.desc())
                .limit(limit)
            )
        )
