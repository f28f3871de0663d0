"""The private link to an order's page, ``<base>/o/<token>``: issue, look up, revoke.

Why the token is derived rather than random-and-forgotten
---------------------------------------------------------
Only the SHA-256 of a token is stored, yet every message about an order must carry the link,
and messages are rendered long after the order was placed. A random token kept nowhere in clear
could be shown once only; issuing a fresh one per message would kill the link in every earlier
message. So each order has one row with a random ``nonce`` (128 bits from :mod:`secrets`) and
its token is ``HMAC-SHA256(key, order id + nonce)``, cut to 128 bits and written in base64url
(22 characters, short enough for an SMS). Whoever renders a message derives the same token again;
the key is never stored in the database, so a copy of the database opens no page.

- **Revocation**: :func:`revoke` sets ``revoked_at``; the token then gets the same 404 as an
  unknown one. The next message about the order gets a new nonce, hence a new link: a leaked
  link dies, and the customer still hears of the new one.
- **Key changes**: a token derived with another key no longer matches the stored hash; the
  next message re-issues the link (as for a revocation). Links already sent keep working until
  then, because look-ups only compare hashes and need no key.
- **When links are made**: on demand, by the notifier, in the transaction that queues the
  message carrying it. Orders imported or placed before this feature get one the first time
  they are written about, and orders nobody is told about need none.
- **Look-up**: by an indexed equality on the hash, then :func:`hmac.compare_digest`.
  Malformed tokens are hashed and looked up like any other, so unknown, revoked and malformed
  tokens take the same path and all come back ``None``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import OrderPageLink
from store.page_paths import ORDER_PAGE_PATH

__all__ = [
    "PAGE_PATH",
    "TOKEN_BYTES",
    "derive_token",
    "find_order_id",
    "hash_token",
    "is_well_formed",
    "page_url",
    "revoke",
    "subkey",
    "token_for_order",
    "tokens_for_orders",
]

PAGE_PATH = ORDER_PAGE_PATH
TOKEN_BYTES = 16  # 128 bits: 22 base64url characters
NONCE_BYTES = 16
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}")
# A concurrent writer may re-issue the same link between our read and our update; a few rounds
# always settle it unless two writers use different keys (a misconfiguration).
_REISSUE_ROUNDS = 3


def subkey(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose (``"token"``, ``"csrf"``) from the configured secret."""
    return hmac.new(secret, b"backorder-bot order page: " + purpose.encode(), "sha256").digest()


def derive_token(key: bytes, order_id: int, nonce: str) -> str:
    """The token of an order's link: HMAC of the order and its nonce, 128 bits, base64url."""
    mac = hmac.new(key, f"order-page:{order_id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:TOKEN_BYTES]).rstrip(b"=").decode("ascii")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def is_well_formed(token: str) -> bool:
    return _TOKEN_SHAPE.fullmatch(token) is not None


def page_url(base_url: str, token: str) -> str:
    """The link as customers see it, e.g. ``https://shop.example/o/3q2-7wFhQ0yTn9VbV0gL1A``."""
    return base_url.rstrip("/") + PAGE_PATH + token


def find_order_id(session: Session, token: str) -> int | None:
    """The order a live token opens; None for unknown, revoked and malformed tokens alike."""
    digest = hash_token(token)
    row = session.execute(
        select(OrderPageLink.order_id, OrderPageLink.token_hash, OrderPageLink.revoked_at).where(
            OrderPageLink.token_hash == digest
        )
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.revoked_at is not None or not is_well_formed(token):
        return None
    return int(row.order_id)


def revoke(session: Session, order_id: int, now: dt.datetime) -> bool:
    """Close the order's current link. True when a live link was revoked."""
    result = session.execute(
        update(OrderPageLink)
        .where(OrderPageLink.order_id == order_id, OrderPageLink.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def token_for_order(session: Session, order_id: int, key: bytes, now: dt.datetime) -> str:
    return tokens_for_orders(session, [order_id], key, now)[order_id]


def tokens_for_orders(
    session: Session, order_ids: Iterable[int], key: bytes, now: dt.datetime
) -> dict[int, str]:
    """The live token of each order, issuing links that are missing, revoked or of another key.

    Batched for the notifier's fan-out: one query for the existing links, one insert for the
    missing ones; only re-issues go row by row.
    """
    wanted = sorted(set(order_ids))
    if not wanted:
        return {}
    links = _links(session, wanted)
    missing = [order_id for order_id in wanted if order_id not in links]
    if missing:
        links.update(_insert_missing(session, missing, key, now))
        lost = [order_id for order_id in missing if order_id not in links]
        if lost:  # another worker linked these first: theirs stand
            links.update(_links(session, lost))
    tokens: dict[int, str] = {}
    for order_id in wanted:
        tokens[order_id] = _live_token(session, links[order_id], key, now)
    return tokens


def _links(session: Session, order_ids: list[int]) -> dict[int, Any]:
    rows = session.connection().execute(_LINKS, {"order_ids": order_ids})
    return {row.order_id: row for row in rows}


def _insert_missing(
    session: Session, order_ids: list[int], key: bytes, now: dt.datetime
) -> dict[int, Any]:
    """Insert a link for each order; an order another worker just linked keeps that link.

    The rows inserted come back (RETURNING), so no second look-up is needed for them.
    """
    rows = []
    for order_id in order_ids:
        nonce = secrets.token_hex(NONCE_BYTES)
        token = derive_token(key, order_id, nonce)
        digest = hash_token(token)
        rows.append({"order_id": order_id, "nonce": nonce, "token_hash": digest, "issued_at": now})
    # Sorted order ids: concurrent inserts wait on each other in one order, never in a cycle.
    statement = _INSERTS[session.get_bind().dialect.name]
    inserted = session.connection().execute(statement, rows)
    return {row.order_id: row for row in inserted}


# Core statements built once: their cache keys are computed once, and the ORM's execution and
# bulk-insert machinery (most of an inbound STATUS message's time in these functions) is skipped.
_LINK_TABLE = cast(Table, OrderPageLink.__table__)
_LINK_COLUMNS = (
    _LINK_TABLE.c.id,
    _LINK_TABLE.c.order_id,
    _LINK_TABLE.c.nonce,
    _LINK_TABLE.c.token_hash,
    _LINK_TABLE.c.revoked_at,
)
_LINKS = select(*_LINK_COLUMNS).where(
    _LINK_TABLE.c.order_id.in_(bindparam("order_ids", expanding=True))
)
_INSERTS = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(_LINK_TABLE)
    .on_conflict_do_nothing(index_elements=["order_id"])
    .returning(*_LINK_COLUMNS)
    for dialect in (postgresql, sqlite)
}


def _live_token(session: Session, link: Any, key: bytes, now: dt.datetime) -> str:
    for _ in range(_REISSUE_ROUNDS):
        token = derive_token(key, link.order_id, link.nonce)
        if link.revoked_at is None and hmac.compare_digest(hash_token(token), link.token_hash):
            return token
        reissued = _reissue(session, link, key, now)
        if reissued is not None:
            return reissued
        link = _links(session, [link.order_id])[link.order_id]
    raise RuntimeError(f"could not settle the page link of order {link.order_id}")


def _reissue(session: Session, link: Any, key: bytes, now: dt.datetime) -> str | None:
    """A new nonce for the link, unless another writer changed it first (then None)."""
    nonce = secrets.token_hex(NONCE_BYTES)
    token = derive_token(key, link.order_id, nonce)
    won = session.execute(
        update(OrderPageLink)
        .where(OrderPageLink.id == link.id, OrderPageLink.token_hash == link.token_hash)
        .values(nonce=nonce, token_hash=hash_token(token), issued_at=now, revoked_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return token if won == 1 else None
