"""Inbound messages whose handling kept failing until they were too old to act on.

A failed message stays logged unhandled and is retried (``bot.telegram.retry``); past the age
limit acting on it could do harm (a week-old "3" would cancel an order the customer has since
thought better of), so it is marked handled with the intent ``given_up`` instead. The same rows
are what ``backorder-bot inbound given-up`` lists for a person to follow up by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from store.models import Channel, InboundMessage

__all__ = ["GIVEN_UP", "GivenUp", "give_up_older_than", "given_up"]

GIVEN_UP = "given_up"


@dataclass(frozen=True, slots=True)
class GivenUp:
    """One message nobody acted on: enough for a person to answer the customer."""

    id: int
    channel: Channel
    provider_id: str
    sender: str
    body: str | None
    received_at: dt.datetime
    given_up_at: dt.datetime | None


def give_up_older_than(
    session: Session, channel: Channel, cutoff: dt.datetime, *, now: dt.datetime
) -> list[GivenUp]:
    """Mark every unhandled message of ``channel`` received before ``cutoff`` as given up.

    One ``UPDATE ... WHERE handled_at IS NULL ... RETURNING``: against a retry handling the same
    row, or another process giving up too, exactly one write wins, and only the rows this call
    marked come back (each give-up is reported once).
    """
    table = cast(Table, InboundMessage.__table__)
    marked = session.execute(
        update(table)
        .where(
            table.c.handled_at.is_(None),
            table.c.channel == channel,
            table.c.received_at < cutoff,
        )
        .values(handled_at=now, intent=GIVEN_UP)
        .returning(
            table.c.id,
            table.c.channel,
            table.c.provider_id,
            table.c.sender,
            table.c.body,
            table.c.received_at,
            table.c.handled_at,
        )
    ).all()
    return sorted((GivenUp(*row) for row in marked), key=lambda g: g.id)


def given_up(session: Session, *, limit: int = 500) -> list[GivenUp]:
    """Messages given up on, newest first."""
    rows = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.intent == GIVEN_UP)
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    )
    return [_given_up(row) for row in rows]


def _given_up(r: InboundMessage) -> GivenUp:
    return GivenUp(r.id, r.channel, r.provider_id, r.sender, r.body, r.received_at, r.handled_at)
