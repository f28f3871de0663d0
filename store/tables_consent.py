"""A customer's consent to marketing by SMS, as the shop's platform (Shopify) records it.

Kept apart from ``customers.sms_state``: that one is the carrier-level reach (STOP stops every
message, the backorder news included); this one is the marketing consent Shopify collects at
checkout. Withdrawn (``unsubscribed``) means no marketing by SMS; what the bot sends about a
customer's own order is not marketing and still goes. ``store.consent`` reads and writes it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, _enum, utcnow

__all__ = ["MarketingState", "SmsMarketingConsent"]


class MarketingState(StrEnum):
    """Shopify's ``CustomerSmsMarketingState`` values, lower-cased."""

    SUBSCRIBED = "subscribed"
    NOT_SUBSCRIBED = "not_subscribed"  # never asked, or never said yes
    UNSUBSCRIBED = "unsubscribed"  # said yes once, then withdrew it
    PENDING = "pending"  # double opt-in not confirmed yet
    REDACTED = "redacted"  # the customer's data was erased at their request


class SmsMarketingConsent(Base):
    __tablename__ = "sms_marketing_consents"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    state: Mapped[MarketingState] = mapped_column(_enum(MarketingState, "marketing_state"))
    opt_in_level: Mapped[str | None] = mapped_column(String(32))
    # When the customer gave or withdrew it, as the platform says; an older update changes nothing.
    consent_updated_at: Mapped[dt.datetime | None]
    collected_from: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="shopify")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
