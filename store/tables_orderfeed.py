"""The signed order feed's events (``POST /webhooks/orders``), one row per event id.

Kept out of ``store.models`` (every area adds tables; one file would conflict). Rows are
written by ``bot.integrations.orderfeed.ingest`` in the transaction that applies the event.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models import BIG_ID, Base, _enum, utcnow

__all__ = ["FeedEvent", "FeedOutcome"]


class FeedOutcome(StrEnum):
    APPLIED = "applied"  # acted on (or nothing to do: the same order placed again)
    REFUSED = "refused"  # nothing of it written; ``reason`` says why
    STALE = "stale"  # older than what we hold for the same order or SKU: changes nothing


class FeedEvent(Base):
    """One feed event by the sender's ``id``: a retry of it finds this row and does nothing.

    ``resource`` names what the event is about (``order:<number>``, ``stock:<sku>``) and
    ``occurred_at`` when the sender says it happened: an event older than the newest one applied
    to the same resource is stale.
    """

    __tablename__ = "order_feed_events"
    __table_args__ = (
        Index("ix_order_feed_events_resource", "resource", "occurred_at"),
        Index("ix_order_feed_events_outcome", "outcome", "received_at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    resource: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[dt.datetime | None]
    outcome: Mapped[FeedOutcome] = mapped_column(_enum(FeedOutcome, "feed_outcome"))
    reason: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
