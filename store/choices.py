"""The three choices of an offer, in a module of their own.

``bot.settings`` (read by every CLI command) names the default choice; importing it from
``store.models`` pulled in the ORM and every table, 0.2 s of a command's start-up. ``store.models``
re-exports it, so ``from store.models import OfferChoice`` still works.
"""

from __future__ import annotations

from enum import StrEnum


class OfferChoice(StrEnum):
    WAIT = "wait"  # keep waiting, with a discount coupon
    SWITCH = "switch"  # take the alternative product now
    CANCEL = "cancel"  # cancel the backordered line, full refund
