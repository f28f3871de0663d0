"""Delay notices for many waiting lines of one product at once (``set_eta``'s fan-out).

Records exactly what :func:`store.eta.record_delay_notice` records line by line (a new round of
choices superseding the open one, the line's notice counters, one ``delay_notice`` event with
the same payload), in a few statements for the whole set instead of a few per line. The terms
come from the same rule (:func:`store.delay_terms.terms_of`); a test compares both paths row by
row.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import update
from sqlalchemy.orm import Session

from store import events
from store.delay_terms import DelayTerms, terms_of
from store.models import EventKind, OrderLine, Product, utcnow
from store.offer_batch import CHUNK, OfferFor, expire_loaded, make_offers
from store.policy import Policy


class WaitingLine(NamedTuple):
    """A waiting line as ``set_eta`` reads it, without an ORM object per line."""

    id: int
    eta: dt.date | None
    delay_notice_at: dt.datetime | None
    order_id: int
    customer_id: int
    placed_at: dt.datetime
    first_eta: dt.date | None
    delay_notices: int
    quantity: int


class NoticedLine(NamedTuple):
    """A line told through a delay notice, and the offer it got."""

    id: int
    order_id: int
    customer_id: int
    offer_id: int


def record_delay_notices(
    session: Session,
    product: Product,
    lines: Sequence[WaitingLine],
    now: dt.datetime,
    policy: Policy,
    today: dt.date,
) -> list[NoticedLine]:
    """Tell each line's customer the revised date and offer the choices again, with cancel.

    ``lines`` hold their values as already updated by the date change (``first_eta``), in the
    order their events are to be recorded. The caller holds the product's and lines' locks.
    """
    session.flush()  # what follows is Core or bulk, past the session's autoflush
    noticed: list[NoticedLine] = []
    # A chunk at a time: a million waiting lines never hold a million event rows in memory.
    for start in range(0, len(lines), CHUNK):
        noticed += _notice_chunk(session, product, lines[start : start + CHUNK], now, policy, today)
    return noticed


def _notice_chunk(
    session: Session,
    product: Product,
    lines: Sequence[WaitingLine],
    now: dt.datetime,
    policy: Policy,
    today: dt.date,
) -> list[NoticedLine]:
    terms = [
        terms_of(
            product.eta,
            first_eta=line.first_eta,
            placed_at=line.placed_at,
            notices=line.delay_notices,
            today=today,
        )
        for line in lines
    ]
    wanted = [
        OfferFor(line.id, line.customer_id, line.quantity, term.silence)
        for line, term in zip(lines, terms, strict=True)
    ]
    offers = make_offers(session, product, wanted, policy, now)
    _count_notices(session, lines, terms, now)
    recorded = utcnow()
    events.insert_many(
        session,
        [
            {
                "kind": EventKind.DELAY_NOTICE.value,
                "customer_id": line.customer_id,
                "order_id": line.order_id,
                "line_id": line.id,
                "product_id": product.id,
                "offer_id": offers[line.id],
                "payload": events.payload_of(
                    eta=term.revised,
                    notice=term.kind.value,
                    silence=term.silence.value,
                    original_eta=term.original,
                    placed_at=line.placed_at,
                    notices=line.delay_notices + 1,
                ),
                "created_at": recorded,
            }
            for line, term in zip(lines, terms, strict=True)
        ],
    )
    return [NoticedLine(ln.id, ln.order_id, ln.customer_id, offers[ln.id]) for ln in lines]


def _count_notices(
    session: Session, lines: Sequence[WaitingLine], terms: Sequence[DelayTerms], now: dt.datetime
) -> None:
    """From now on each customer was told the revised date (or none): a passed one is never
    repeated. One revised date per product and day, so in practice one group of lines."""
    by_revised: dict[dt.date | None, list[int]] = defaultdict(list)
    for line, term in zip(lines, terms, strict=True):
        by_revised[term.revised].append(line.id)
    expire_loaded(session, OrderLine, [line.id for line in lines], "id")
    for revised, ids in by_revised.items():
        for start in range(0, len(ids), CHUNK):
            session.execute(
                update(OrderLine)
                .where(OrderLine.id.in_(ids[start : start + CHUNK]))
                .values(
                    eta=revised,
                    delay_notice_at=now,
                    delay_notice_eta=revised,
                    delay_notices=OrderLine.delay_notices + 1,
                )
                .execution_options(synchronize_session=False)
            )
