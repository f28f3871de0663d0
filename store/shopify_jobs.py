"""Write-back jobs to Shopify: enqueued with the choice that causes them, claimed, finished.

A customer's choice on a line of a Shopify order (``store.offers``) must reach the shop's
Shopify: the wait coupon as a discount code, the choice as a tag and a note, a switch as an
order edit, a whole cancelled order as a cancellation with its refund. Each is a ``ShopifyJob``
row written in the transaction of the choice, like an outbox row: if the choice commits, the
write is owed; if it rolls back, nothing is. The HTTP calls happen later, outside any
transaction (``bot.integrations.shopify.writeback``), so a slow Shopify never holds a lock here.

Jobs are keyed: the same write enqueued twice is one row (``INSERT ... ON CONFLICT DO NOTHING``
on ``key``). Orders that did not come from Shopify get no jobs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from store.db import upsert_insert
from store.errors import Conflict, NotFound
from store.models import (
    Offer,
    OfferChoice,
    OrderLine,
    OrderStatus,
    Refund,
    ShopifyOrder,
)
from store.tables_shopify import ShopifyJob, ShopifyJobKind, ShopifyJobStatus

__all__ = [
    "MAX_ERROR",
    "claim_due",
    "enqueue_choice",
    "enqueue_line_cancel",
    "finish_job",
    "jobs",
    "retry_job",
]

MAX_ERROR = 500
_TABLE = cast(Table, ShopifyJob.__table__)
# Shopify tags are at most 40 characters; these say which choice the customer made.
CHOICE_TAGS = {
    OfferChoice.WAIT: "backorder-wait",
    OfferChoice.SWITCH: "backorder-switch",
    OfferChoice.CANCEL: "backorder-cancel",
}


@dataclass(frozen=True, slots=True)
class _Job:
    key: str
    kind: ShopifyJobKind
    payload: dict[str, Any]


def enqueue_choice(
    session: Session,
    offer: Offer,
    choice: OfferChoice,
    new_line: OrderLine | None,
    now: dt.datetime,
) -> None:
    """Owe Shopify the writes for ``choice`` on ``offer``'s line, if its order came from there."""
    line = offer.line
    shopify_id = _shopify_id(session, line)
    if shopify_id is None:
        return
    _insert(session, line, shopify_id, _jobs_for(session, offer, choice, new_line, now), now)


def enqueue_line_cancel(session: Session, line: OrderLine, now: dt.datetime) -> None:
    """Owe Shopify the writes for a line an agent cancelled outside any offer (the dashboard,
    the API, the CLI), as for a customer's cancel: the whole order's cancellation with its
    refund when nothing of it remains, else the line edited down to its shipped units; and
    the tag and note. Call it after ``store.offers.cancel_line``, in its transaction."""
    shopify_id = _shopify_id(session, line)
    if shopify_id is None:
        return
    sku = line.product.sku
    note = f"backorder-bot: {sku} x{line.quantity - line.shipped_quantity} -> cancel (by support)"
    found = [
        _cancel_order(session, line)
        or _Job(
            f"line:{line.id}:edit",
            ShopifyJobKind.ORDER_EDIT,
            {"sku": sku, "keep": line.shipped_quantity},
        ),
        _Job(
            f"line:{line.id}:note",
            ShopifyJobKind.ORDER_NOTE,
            {"tag": CHOICE_TAGS[OfferChoice.CANCEL], "note": note},
        ),
    ]
    _insert(session, line, shopify_id, found, now)


def _shopify_id(session: Session, line: OrderLine) -> int | None:
    return session.scalar(
        select(ShopifyOrder.shopify_id).where(ShopifyOrder.order_id == line.order_id)
    )


def _insert(
    session: Session, line: OrderLine, shopify_id: int, found: list[_Job], now: dt.datetime
) -> None:
    for job in found:
        session.execute(
            upsert_insert(session, _TABLE)
            .values(
                key=job.key,
                kind=job.kind,
                status=ShopifyJobStatus.PENDING,
                order_id=line.order_id,
                shopify_order_id=shopify_id,
                payload=job.payload,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )


def _coupon_ends(offer: Offer, now: dt.datetime) -> dt.datetime:
    """The code expires when the offer does; a wait applied by silence (the offer already
    over) gets the offer's own term again from now, rather than a code dead on arrival."""
    if offer.expires_at > now:
        return offer.expires_at
    return now + (offer.expires_at - offer.created_at)


def _jobs_for(
    session: Session,
    offer: Offer,
    choice: OfferChoice,
    new_line: OrderLine | None,
    now: dt.datetime,
) -> list[_Job]:
    line = offer.line
    sku = line.product.sku
    note = f"backorder-bot: {sku} x{line.quantity - line.shipped_quantity} -> {choice.value}"
    found: list[_Job] = []
    if choice == OfferChoice.WAIT and line.coupon_code is not None:
        note += f" (code {line.coupon_code})"
        # One coupon per line ever (``store.offers``): keyed on the code, a second round of
        # choices that waits again reuses the discount already created.
        found.append(
            _Job(
                f"coupon:{line.coupon_code}",
                ShopifyJobKind.DISCOUNT_CODE,
                {
                    "code": line.coupon_code,
                    "percent": offer.discount_percent,
                    "sku": sku,
                    "ends_at": _coupon_ends(offer, now).isoformat(),
                },
            )
        )
    elif choice == OfferChoice.SWITCH and new_line is not None:
        note += f" {new_line.product.sku} x{new_line.quantity}"
        found.append(_edit(offer, sku, line.shipped_quantity, new_line.product.sku, new_line))
    elif choice == OfferChoice.CANCEL:
        found.append(_cancel(session, offer) or _edit(offer, sku, line.shipped_quantity))
    found.append(
        _Job(
            f"offer:{offer.id}:note",
            ShopifyJobKind.ORDER_NOTE,
            {"tag": CHOICE_TAGS[choice], "note": note},
        )
    )
    return found


def _edit(
    offer: Offer,
    sku: str,
    keep: int,
    add_sku: str | None = None,
    new_line: OrderLine | None = None,
) -> _Job:
    """Set the line of ``sku`` to ``keep`` units (those shipped) and add the switched item."""
    payload: dict[str, Any] = {"sku": sku, "keep": keep}
    if add_sku is not None and new_line is not None:
        payload["add"] = {"sku": add_sku, "quantity": new_line.quantity}
    return _Job(f"offer:{offer.id}:edit", ShopifyJobKind.ORDER_EDIT, payload)


def _cancel(session: Session, offer: Offer) -> _Job | None:
    return _cancel_order(session, offer.line)


def _cancel_order(session: Session, line: OrderLine) -> _Job | None:
    """The whole order's cancellation, with the refund promised, when nothing of it remains."""
    order = line.order
    if order.status != OrderStatus.CANCELLED:
        return None
    session.flush()
    refunded = session.execute(
        select(func.coalesce(func.sum(Refund.amount_cents), 0), func.min(Refund.currency)).where(
            Refund.order_id == order.id
        )
    ).one()
    return _Job(
        f"order:{order.id}:cancel",
        ShopifyJobKind.ORDER_CANCEL,
        {"refund_cents": int(refunded[0]), "currency": refunded[1], "order_number": order.number},
    )


def claim_due(session: Session, now: dt.datetime, lease: dt.timedelta, limit: int) -> list[int]:
    """Claim up to ``limit`` due jobs for ``lease``: each one conditional update that must change
    exactly one row, so a job another worker claimed first is skipped, not run twice."""
    due = session.scalars(
        select(ShopifyJob.id)
        .where(ShopifyJob.status == ShopifyJobStatus.PENDING, ShopifyJob.next_attempt_at <= now)
        .order_by(ShopifyJob.next_attempt_at, ShopifyJob.id)
        .limit(limit)
    ).all()
    claimed = []
    for job_id in due:
        result = session.execute(
            update(_TABLE)
            .where(
                _TABLE.c.id == job_id,
                _TABLE.c.status == ShopifyJobStatus.PENDING,
                _TABLE.c.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + lease, attempts=_TABLE.c.attempts + 1)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(job_id)
    return claimed


def finish_job(
    session: Session,
    job_id: int,
    *,
    now: dt.datetime,
    done: bool,
    error: str | None = None,
    result: str | None = None,
    retry_at: dt.datetime | None = None,
) -> ShopifyJob:
    """Record an attempt's end: done, due again at ``retry_at``, or dead (neither)."""
    job = session.get(ShopifyJob, job_id, with_for_update=True)
    if job is None:
        raise NotFound(f"Shopify job {job_id} does not exist")
    job.last_error = error[:MAX_ERROR] if error else None
    if done:
        job.status = ShopifyJobStatus.DONE
        job.result = result[:255] if result else None
        job.finished_at = now
    elif retry_at is not None:
        job.next_attempt_at = retry_at
    else:
        job.status = ShopifyJobStatus.DEAD
        job.finished_at = now
    return job


def jobs(
    session: Session, *, status: ShopifyJobStatus | None = None, limit: int = 200
) -> Sequence[ShopifyJob]:
    """Jobs, newest first; only those of ``status`` when given."""
    query = select(ShopifyJob).order_by(ShopifyJob.id.desc()).limit(limit)
    if status is not None:
        query = query.where(ShopifyJob.status == status)
    return session.scalars(query).all()


def retry_job(session: Session, job_id: int, now: dt.datetime) -> ShopifyJob:
    """Make a dead job due again now, with a fresh count of attempts."""
    job = session.get(ShopifyJob, job_id, with_for_update=True)
    if job is None:
        raise NotFound(f"Shopify job {job_id} does not exist")
    if job.status != ShopifyJobStatus.DEAD:
        raise Conflict(f"Shopify job {job_id} is {job.status.value}, not dead")
    job.status = ShopifyJobStatus.PENDING
    job.attempts = 0
    job.next_attempt_at = now
    job.finished_at = None
    return job
