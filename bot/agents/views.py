"""What the agents' dashboard and Telegram commands show, read in one short session each.

Built on ``store.queries`` (the same functions behind ``backorder-bot backorders`` and
``report``), so the board and the CLI never disagree. Returns plain data: the templates never
touch the ORM, and nothing lazy-loads after its session has closed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import queries
from store.models import Agent, Offer, OfferStatus, Product, Supplier

# Bars of the offer-outcome chart, in this order: the three choices and "nobody answered".
OUTCOMES = ("wait", "switch", "cancel", "no_answer")
CHART_WIDTH = 320
BAR_HEIGHT = 22
BAR_GAP = 8


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One SKU on the backorder board."""

    sku: str
    name: str
    supplier: str | None
    lines_waiting: int
    units_waiting: int
    oldest_wait_days: int
    eta: dt.date | None
    eta_slips: int
    stock_on_hand: int


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of the chart, laid out for SVG (no script, no inline style)."""

    outcome: str
    count: int
    y: int
    width: int


@dataclass(frozen=True, slots=True)
class SkuPage:
    sku: str
    name: str
    supplier: str | None
    eta: dt.date | None
    stock_on_hand: int
    row: BoardRow | None
    lines: list[queries.WaitingLine]


@dataclass(frozen=True, slots=True)
class SignedInAgent:
    """The agent behind a session, re-read on every request."""

    username: str
    password_hash: str
    telegram_user_id: int | None
    is_admin: bool = False


def board(session: Session, now: dt.datetime) -> list[BoardRow]:
    """Every SKU with waiting lines, most waiting customers first (the one to act on on top)."""
    rows = [_row(group, now) for group in queries.backorders(session)]
    return sorted(rows, key=lambda r: (-r.lines_waiting, -r.oldest_wait_days, r.sku))


def _row(group: queries.BackorderGroup, now: dt.datetime) -> BoardRow:
    summary = group.summary
    return BoardRow(
        sku=summary.sku,
        name=summary.name,
        supplier=summary.supplier,
        lines_waiting=summary.lines_waiting,
        units_waiting=summary.units_waiting,
        oldest_wait_days=summary.oldest_wait_days(now),
        eta=summary.eta,
        # The line told about the most supplier slips: how often this SKU's date has moved.
        eta_slips=max((line.eta_slips for line in group.lines), default=0),
        stock_on_hand=summary.stock_on_hand,
    )


def sku_page(session: Session, sku: str, now: dt.datetime) -> SkuPage | None:
    """The SKU's waiting customers and their latest offer; None for an unknown SKU."""
    found = session.execute(
        select(Product.sku, Product.name, Supplier.name, Product.eta, Product.stock_on_hand)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id)
        .where(Product.sku == sku)
    ).first()
    if found is None:
        return None
    groups = queries.backorders(session, sku)
    group = groups[0] if groups else None
    return SkuPage(
        sku=found[0],
        name=found[1],
        supplier=found[2],
        eta=found[3],
        stock_on_hand=found[4],
        row=_row(group, now) if group is not None else None,
        lines=[_lapsed(line, now) for line in group.lines] if group is not None else [],
    )


def _lapsed(line: queries.WaitingLine, now: dt.datetime) -> queries.WaitingLine:
    """An open offer past its expiry reads ``expired``: the customer can no longer answer it,
    whether or not the expiry job has applied its default yet."""
    expires_at = line.offer_expires_at
    if line.offer_status == OfferStatus.OPEN.value and expires_at is not None and expires_at <= now:
        return replace(line, offer_status=OfferStatus.EXPIRED.value, offer_choice=None)
    return line


def offer_outcomes(session: Session, now: dt.datetime) -> dict[str, int]:
    """Offers by outcome: accepted choices, and expired ones (nobody answered).

    An open offer past its expiry is "no answer" too: nobody can answer it any more, even if
    the expiry job has not marked it yet. Open offers still in time are waiting for an answer
    and superseded ones were replaced by a newer offer (which is counted instead), so neither
    is an outcome.
    """
    counts = dict.fromkeys(OUTCOMES, 0)
    rows = session.execute(
        select(Offer.status, Offer.choice, func.count())
        .where(Offer.status.in_([OfferStatus.ACCEPTED, OfferStatus.EXPIRED]))
        .group_by(Offer.status, Offer.choice)
    )
    for status, choice, count in rows:
        if status == OfferStatus.EXPIRED:
            counts["no_answer"] += count
        elif choice is not None:
            counts[choice.value] += count
    lapsed = session.scalar(
        select(func.count())
        .select_from(Offer)
        .where(Offer.status == OfferStatus.OPEN, Offer.expires_at <= now)
    )
    counts["no_answer"] += lapsed or 0
    return counts


def chart(counts: dict[str, int]) -> list[Bar]:
    """Horizontal bars scaled to the largest count."""
    top = max(counts.values(), default=0) or 1
    return [
        Bar(
            outcome,
            counts.get(outcome, 0),
            i * (BAR_HEIGHT + BAR_GAP),
            round(CHART_WIDTH * counts.get(outcome, 0) / top),
        )
        for i, outcome in enumerate(OUTCOMES)
    ]


def signed_in_agent(session: Session, username: str) -> SignedInAgent | None:
    """The enabled agent of this username, or None (removed or disabled since sign-in)."""
    agent = session.scalars(
        select(Agent).where(Agent.username == username, Agent.disabled.is_(False))
    ).first()
    if agent is None:
        return None
    return SignedInAgent(
        agent.username, agent.password_hash, agent.telegram_user_id, agent.is_admin
    )
