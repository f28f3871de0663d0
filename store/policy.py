"""The shop's backorder rules as plain values, passed to the operations by the entry points."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from store.choices import OfferChoice


@dataclass(frozen=True, slots=True)
class Policy:
    # A new supplier date is news only when it moves at least this far from what we told.
    eta_threshold_days: int = 1
    # Discount for waiting, when neither the product nor its category sets one.
    default_discount_percent: int = 10
    # How long a customer has to choose, and what happens when they don't.
    offer_ttl: dt.timedelta = dt.timedelta(days=7)
    offer_default_choice: OfferChoice = OfferChoice.WAIT
    # An alternative from the same category must cost within this band of the original.
    alternative_price_band_percent: int = 20
    # The FTC mail-order rule: a customer still waiting this long is told and may cancel.
    delay_notice_days: int = 30
    # The shop's zone (DEFAULT_TIMEZONE): "today" for supplier dates and delay notices.
    timezone: str = "UTC"


DEFAULT_POLICY = Policy()
