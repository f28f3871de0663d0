"""Write-back jobs to Shopify: one row per write the shop's Shopify must receive.

Kept out of ``store.models`` (every area adds tables; one file would conflict). The rows are
written by ``store.shopify_jobs`` in the transaction of the customer's choice, and worked by
``bot.integrations.shopify.writeback``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models import BIG_ID, Base, _enum, utcnow

__all__ = ["ShopifyJob", "ShopifyJobKind", "ShopifyJobStatus", "ShopifySyncState"]


class ShopifyJobKind(StrEnum):
    DISCOUNT_CODE = "discount_code"  # the wait coupon as a real, single-use discount code
    ORDER_NOTE = "order_note"  # the customer's choice as a tag and a note on the order
    ORDER_EDIT = "order_edit"  # a switch (or a cancelled line): the order's line items edited
    ORDER_CANCEL = "order_cancel"  # a whole order cancelled, refunded to the original payment


class ShopifyJobStatus(StrEnum):
    PENDING = "pending"  # due at ``next_attempt_at`` (a worker holding it pushed that forward)
    DONE = "done"
    DEAD = "dead"  # gave up: ``last_error`` says why; ``shopify jobs retry`` revives it


class ShopifyJob(Base):
    """One write to Shopify, done at least once and applied there once.

    ``key`` is unique: the same write enqueued twice (a repeated choice, the same coupon on a
    second round) is one job. A worker claims a job by moving ``next_attempt_at`` past its lease
    in one conditional update, so two workers never run it at once and a crashed worker's job
    becomes due again when the lease runs out.
    """

    __tablename__ = "shopify_jobs"
    __table_args__ = (Index("ix_shopify_jobs_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[ShopifyJobKind] = mapped_column(_enum(ShopifyJobKind, "shopify_job_kind"))
    status: Mapped[ShopifyJobStatus] = mapped_column(
        _enum(ShopifyJobStatus, "shopify_job_status"), default=ShopifyJobStatus.PENDING
    )
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    shopify_order_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # What Shopify answered on success (the discount's id, the cancel job's id), for support.
    result: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]


class ShopifySyncState(Base):
    """Where ``backorder-bot shopify sync`` is in one resource (products, orders): the cursor
    after the last page applied, saved in that page's transaction, so a sync stopped half-way
    resumes after the last page it applied; None once the resource was read to its end."""

    __tablename__ = "shopify_sync_state"

    resource: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(1024))
    items: Mapped[int] = mapped_column(Integer, default=0)  # applied in the current pass
    refused: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
