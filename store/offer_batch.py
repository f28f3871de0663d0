"""Many rounds of choices at once, for the waiting lines of one product (a supplier's new date).

The same rows as :func:`store.offers.make_offer` once per line, in a few statements for the whole
set: the open rounds superseded by one UPDATE per chunk of lines, the product's discount and
alternative looked up once (per quantity: an alternative must have the line's units in stock),
and the new offers inserted by one executemany (COPY on PostgreSQL). One ``make_offer`` per
line cost three queries and an ORM flush of a session that grows with every line: at 100,000
lines it was most of ``set_eta``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from store.db import copy_rows
from store.models import Offer, OfferChoice, OfferStatus, Product, utcnow
from store.offers import discount_for, find_alternative
from store.policy import Policy

OFFERS = cast(Table, Offer.__table__)
CHUNK = 5000  # ids per IN (...): under SQLite's and psycopg's parameter limits


class OfferFor(NamedTuple):
    """What a new round of choices needs to know about its line."""

    line_id: int
    customer_id: int
    quantity: int
    default_choice: OfferChoice | None


def make_offers(
    session: Session,
    product: Product,
    lines: Sequence[OfferFor],
    policy: Policy,
    now: dt.datetime,
) -> dict[int, int]:
    """Open a new round of choices for each of ``product``'s waiting ``lines``, superseding any
    open one; answers each line's new offer id. The caller holds the product's and lines' locks.
    """
    if not lines:
        return {}
    supersede_open_offers_of(session, [line.line_id for line in lines], now)
    discount = discount_for(session, product, policy)
    alternatives: dict[int, int | None] = {}
    for quantity in sorted({line.quantity for line in lines}):
        found = find_alternative(session, product, quantity, policy)
        alternatives[quantity] = found.id if found is not None else None
    created = utcnow()
    rows = [
        (
            line.line_id,
            line.customer_id,
            OfferStatus.OPEN.value,
            discount,
            alternatives[line.quantity],
            now + policy.offer_ttl,
            (line.default_choice or policy.offer_default_choice).value,
            created,
        )
        for line in lines
    ]
    _insert(session, rows)
    return _open_offer_ids(session, [line.line_id for line in lines])


_COLUMNS = (
    "line_id",
    "customer_id",
    "status",
    "discount_percent",
    "alternative_product_id",
    "expires_at",
    "default_choice",
    "created_at",
)


def _insert(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL, one executemany elsewhere: no statement, and no object, per row."""
    if session.get_bind().dialect.name == "postgresql":
        naive = ((*row[:5], _naive(row[5]), row[6], _naive(row[7])) for row in rows)
        copy_rows(session, "offers", _COLUMNS, naive)
        return
    session.connection().execute(
        insert(OFFERS), [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
    )


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _open_offer_ids(session: Session, line_ids: list[int]) -> dict[int, int]:
    """Each line's one open offer: the one just made, as the older ones were superseded."""
    found: dict[int, int] = {}
    for start in range(0, len(line_ids), CHUNK):
        found.update(
            (line_id, offer_id)
            for offer_id, line_id in session.connection().execute(
                select(OFFERS.c.id, OFFERS.c.line_id).where(
                    OFFERS.c.line_id.in_(line_ids[start : start + CHUNK]),
                    OFFERS.c.status == OfferStatus.OPEN,
                )
            )
        )
    return found


def expire_loaded(session: Session, kind: type[Any], ids: Collection[int], key: str) -> None:
    """Expire the objects of ``kind`` the session holds whose ``key`` is in ``ids``, after a
    bulk UPDATE: what ``synchronize_session="fetch"`` does, without fetching and keying every
    updated row (a tenth of ``set_eta`` at 20,000 lines) when the session holds a handful."""
    session.flush()  # expiring drops unflushed changes; "fetch" kept them
    wanted = ids if isinstance(ids, set | frozenset) else set(ids)
    for obj in list(session.identity_map.values()):
        # The loaded value, if any: getattr() would load an expired object just to expire it.
        if isinstance(obj, kind) and vars(obj).get(key) in wanted:
            session.expire(obj)


def supersede_open_offers_of(session: Session, line_ids: Sequence[int], now: dt.datetime) -> None:
    """As :func:`store.allocation.supersede_open_offers` for many lines, a chunk per statement;
    Offer objects the session already holds are expired, to be read again."""
    expire_loaded(session, Offer, line_ids, "line_id")
    for start in range(0, len(line_ids), CHUNK):
        session.execute(
            update(Offer)
            .where(
                Offer.line_id.in_(line_ids[start : start + CHUNK]),
                Offer.status == OfferStatus.OPEN,
            )
            .values(status=OfferStatus.SUPERSEDED, decided_at=now)
            .execution_options(synchronize_session=False)
        )
