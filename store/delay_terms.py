"""What a delay notice says and what the customer's silence means (16 CFR 435.2(b)).

The US mail-order rule, as the FTC's business guide explains it:

- a first notice with a definite revised date no more than 30 days after the original date:
  silence is consent to wait until that date;
- a first notice whose date is more than 30 days late, or that cannot give a date: the order is
  cancelled (with a prompt refund) unless the customer agrees to wait;
- a renewed notice (any later one): "the customer's silence may not be treated as a consent to
  delay": unless the customer agrees to wait, the late item is cancelled and promptly refunded.

The revised date quoted is the supplier's current date when it is today or later, else none
("we can't tell"): a notice never quotes a date that has already passed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from store.models import OfferChoice, OrderLine

# The rule's own number, not a shop setting: a revised date within this many days of the
# original date lets silence count as consent on a first notice.
RULE_WINDOW_DAYS = 30


class NoticeKind(StrEnum):
    FIRST = "first"  # definite date, within 30 days of the original: silence = wait
    FIRST_LATE = "first_late"  # definite date, more than 30 days late: silence = cancel
    FIRST_UNKNOWN = "first_unknown"  # the shop cannot tell: silence = cancel
    RENEWED = "renewed"  # second and later notices on a line: silence = cancel


@dataclass(frozen=True, slots=True)
class DelayTerms:
    kind: NoticeKind
    revised: dt.date | None  # never before today; None: the shop cannot tell
    original: dt.date  # the date the customer was first promised (the rule's "applicable time")

    @property
    def silence(self) -> OfferChoice:
        """The choice applied when the notice's offer expires unanswered."""
        return OfferChoice.WAIT if self.kind == NoticeKind.FIRST else OfferChoice.CANCEL


def original_date(line: OrderLine, window_days: int = RULE_WINDOW_DAYS) -> dt.date:
    """The first date promised, or, with none, the rule's 30 days after the order."""
    return _original(line.first_eta, line.order.placed_at, window_days)


def _original(first_eta: dt.date | None, placed_at: dt.datetime, window_days: int) -> dt.date:
    if first_eta is not None:
        return first_eta
    return placed_at.date() + dt.timedelta(days=window_days)


def delay_terms(line: OrderLine, today: dt.date) -> DelayTerms:
    """The kind of the notice about to be sent for ``line`` (before it is counted)."""
    return terms_of(
        line.product.eta,
        first_eta=line.first_eta,
        placed_at=line.order.placed_at,
        notices=line.delay_notices,
        today=today,
    )


def terms_of(
    supplier: dt.date | None,
    *,
    first_eta: dt.date | None,
    placed_at: dt.datetime,
    notices: int,
    today: dt.date,
) -> DelayTerms:
    """:func:`delay_terms` from a line's values, for callers that hold rows, not objects."""
    revised = supplier if supplier is not None and supplier >= today else None
    original = _original(first_eta, placed_at, RULE_WINDOW_DAYS)
    if notices > 0:
        kind = NoticeKind.RENEWED
    elif revised is None:
        kind = NoticeKind.FIRST_UNKNOWN
    elif revised > original + dt.timedelta(days=RULE_WINDOW_DAYS):
        kind = NoticeKind.FIRST_LATE
    else:
        kind = NoticeKind.FIRST
    return DelayTerms(kind, revised, original)
