"""Each Shopify webhook applied exactly once, or recorded as refused with the reason.

One short transaction per delivery (``orders/create`` deliveries that arrive together share
one, each in savepoints of its own: see ``ShopifyIngest``). It starts by claiming the webhook
id: ``INSERT ... ON CONFLICT DO NOTHING`` on the unique ``shopify_webhooks.webhook_id``. No row
back means another delivery of the same webhook already committed (or came earlier in the same
batch), and this one does nothing. Two deliveries at once: on PostgreSQL the second's insert
waits on the unique index until the first commits, then conflicts; on SQLite writers take turns
(``BEGIN IMMEDIATE``). Either way one applies it.

The topic's work (``topics``) runs in a savepoint after the claim. A refusal (``Refused``, or a
store rule: unknown SKU, a count below what is promised...) rolls the savepoint back, so nothing
of the webhook is half-written, and the claim row keeps the outcome ``refused`` and the reason:
a list a person can read (``refused_webhooks``). Shopify still gets 200, so it stops retrying a
webhook that can never succeed. Anything else (the database failing) rolls back everything,
claim included, and the route answers 500: Shopify's retry tries again. A unique violation (two
webhooks creating the same order at once, on PostgreSQL) re-runs the transaction: the second
run finds the row the other committed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from bot.integrations.shopify.customer_topics import CUSTOMER_HANDLERS
from bot.integrations.shopify.group_commit import GroupCommit
from bot.integrations.shopify.mapping import Refused
from bot.integrations.shopify.topics import HANDLERS as ORDER_HANDLERS
from bot.integrations.shopify.topics import Applied, Config, Handler
from store.db import Database
from store.errors import StoreError
from store.models import ShopifyOutcome, ShopifyWebhook, utcnow
from store.order_intake import load_products, lock_products_by_sku

__all__ = ["Delivery", "Ingested", "ShopifyIngest", "refused_webhooks"]


def _handler_of(topic: str) -> Handler | None:
    """The handler of a topic: orders, stock and products (topics.py) or customers
    (customer_topics.py); looked up at each call, so a test may replace one."""
    return ORDER_HANDLERS.get(topic) or CUSTOMER_HANDLERS.get(topic)


logger = logging.getLogger(__name__)
MAX_REASON = 500
INTEGRITY_ATTEMPTS = 3
# Deliveries of these topics are group-committed; the rest go one transaction each.
BATCHED_TOPICS = frozenset({"orders/create"})
MAX_BATCH = 32
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


class _Alone:
    """A webhook taken out of its batch, to be applied in a transaction of its own."""


_ALONE = _Alone()


class ShopifyIngest:
    """Applies verified Shopify webhooks to one database.

    ``orders/create``, the topic that comes in floods (a sale), is group-committed: deliveries
    that arrive together are applied in one transaction, each in savepoints of its own
    (``group_commit``), and each answered once the batch committed. A refusal stays one
    webhook's (its savepoint); a unique violation (a concurrent process placed the same order)
    takes that webhook out of the batch to be applied alone after it; a batch that fails whole
    (a deadlock with another process, the database failing) is rolled back and each of its
    webhooks applied alone, with the single path's retries. ``max_batch=1``: no batching.

    The default batches on SQLite only. SQLite has one writer at a time anyway, and a batch
    shares one commit and one session (CPU per webhook 3.9 -> 2.7 ms on ``bench_shopify``). On
    PostgreSQL concurrent transactions overlap their round trips, and a batch, which holds its
    products' row locks until it commits, made them wait in line instead: measured 34
    webhooks/s batched against 60/s one transaction each (same machine, load average 11-12).
    """

    def __init__(
        self,
        db: Database,
        config: Config,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        max_batch: int | None = None,
    ) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        if max_batch is None:
            max_batch = MAX_BATCH if db.engine.dialect.name == "sqlite" else 1
        self._group: GroupCommit[Delivery, Ingested] | None = (
            GroupCommit(self.handle_batch, max_batch) if max_batch > 1 else None
        )

    async def handle_async(self, delivery: Delivery) -> Ingested:
        """``handle`` for the event loop: batched with the deliveries arriving meanwhile when
        its topic is, else on a worker thread of its own."""
        if self._group is not None and delivery.topic in BATCHED_TOPICS:
            return await self._group.submit(delivery)
        return await asyncio.to_thread(self._handle_alone, delivery)

    def handle(self, delivery: Delivery) -> Ingested:
        """Apply the webhook unless a delivery of it already was; say what became of it."""
        return self._handle_alone(delivery)

    def _handle_alone(self, delivery: Delivery) -> Ingested:
        now = self._clock()

        def work(session: Session) -> Applied:
            # Run again whole if a deadlock rolled it back (``Database.transaction``).
            applied = self._one(session, delivery, now)
            if applied is None:
                raise _Duplicate
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
        return _ingested(delivery, applied)

    def handle_batch(self, deliveries: Sequence[Delivery]) -> list[Ingested | BaseException]:
        """Apply these webhooks in one transaction (see the class docstring); for each, what
        became of it, or the exception its caller should raise."""
        if len(deliveries) == 1:
            return [self._alone_or_error(deliveries[0])]
        now = self._clock()
        work = partial(self._apply_batch, deliveries=deliveries, now=now)
        try:
            applied = self._db.transaction(work, attempts=1)
        except SQLAlchemyError as exc:
            # Nothing of the batch was kept; each webhook alone gets the single path's retries.
            logger.info("Shopify batch of %d rolled back (%s); one by one", len(deliveries), exc)
            return [self._alone_or_error(delivery) for delivery in deliveries]
        return [
            self._alone_or_error(delivery)
            if isinstance(result, _Alone)
            else _ingested(delivery, result)
            for delivery, result in zip(deliveries, applied, strict=True)
        ]

    def _apply_batch(
        self, session: Session, *, deliveries: Sequence[Delivery], now: dt.datetime
    ) -> list[Applied | _Alone | None]:
        skus = _skus(deliveries)
        if session.get_bind().dialect.name == "postgresql":
            # Every product of the batch locked at once, in id order, before any webhook's own
            # lock: the lock order of ``store.locking`` holds for the batch as a whole.
            lock_products_by_sku(session, skus)
        # Loaded once for the batch (and held here, as the identity map only keeps referenced
        # objects): a backordered line's offer reads its product and explicit alternatives.
        _held = load_products(session, skus)
        results: list[Applied | _Alone | None] = []
        for delivery in deliveries:
            try:
                results.append(self._one(session, delivery, now))
            except IntegrityError:  # its savepoint is rolled back; so goes its claim
                session.execute(_UNCLAIM, {"key": delivery.webhook_id})
                results.append(_ALONE)
        return results

    def _alone_or_error(self, delivery: Delivery) -> Ingested | BaseException:
        try:
            return self._handle_alone(delivery)
        except Exception as exc:  # raised in the delivery's own request (``GroupCommit``)
            return exc

    def _one(self, session: Session, delivery: Delivery, now: dt.datetime) -> Applied | None:
        """Claim, apply and record one webhook in the session; None when it is a repeat."""
        resource = _resource(delivery)
        if not _claim(session, delivery, resource, now):
            return None
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

    def _apply(
        self, session: Session, delivery: Delivery, resource: str | None, now: dt.datetime
    ) -> Applied:
        handler = _handler_of(delivery.topic)
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


def _ingested(delivery: Delivery, applied: Applied | None) -> Ingested:
    if applied is None:
        return Ingested(duplicate=True)
    if applied.outcome is ShopifyOutcome.REFUSED:
        logger.warning(
            "Shopify webhook %s (%s) refused: %s",
            delivery.webhook_id,
            delivery.topic,
            applied.reason,
        )
    return Ingested(duplicate=False, outcome=applied.outcome, reason=applied.reason)


def _skus(deliveries: Sequence[Delivery]) -> list[str]:
    """The SKUs the orders' line items name (what each webhook will lock), best effort: a
    webhook whose payload is unreadable here is refused later, whatever this finds."""
    skus: set[str] = set()
    for delivery in deliveries:
        items = (delivery.payload or {}).get("line_items")
        for item in items if isinstance(items, list) else ():
            sku = item.get("sku") if isinstance(item, dict) else None
            if isinstance(sku, str) and sku.strip():
                skus.add(sku.strip())
    return sorted(skus)


def _resource(delivery: Delivery) -> str | None:
    """Which order, item or product the webhook is about, for the person reading the list."""
    if delivery.payload is None or _handler_of(delivery.topic) is None:
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
_UNCLAIM = delete(_TABLE).where(_TABLE.c.webhook_id == bindparam("key"))
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
