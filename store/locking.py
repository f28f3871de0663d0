"""The one lock order of every writing transaction (PostgreSQL row locks).

    products (by id)  ->  order lines (by id)  ->  offers (by id)  ->  events (inserted only)

A transaction that will change a product's stock, or any line or offer of a product, first locks
that product's row, and when it needs several products, locks them all at once in id order
before anything else. Lines and offers are locked only while their product's lock is held, so
two transactions can never hold each other's lines or offers: whoever holds the product goes
first and the other waits at the product row, before it has locked anything it could be waited
for. Lines are locked by id (``lock_lines``); allocation locks a product's waiting lines in
FIFO order, which is safe for the same reason (it holds their product). The accepted offer is
locked after its line.

Locks are ``FOR NO KEY UPDATE``: they serialise writers of the row, but do not block inserts
elsewhere that merely reference it (an offer naming an alternative product, an event naming a
line), which take a ``KEY SHARE`` lock. SQLite has no row locks: ``BEGIN IMMEDIATE`` already
makes its writers take turns, and these statements are plain reads there.

A deadlock that still happens (a module not yet following the order) is rolled back by
PostgreSQL and retried whole by ``Database.transaction`` (``store.retry``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import OrderLine, Product


def lock_products(session: Session, product_ids: Iterable[int | None]) -> None:
    """Lock products in id order (see the module docstring); ``None`` ids are ignored."""
    ids = sorted({i for i in product_ids if i is not None})
    if ids:
        session.execute(
            select(Product.id)
            .where(Product.id.in_(ids))
            .order_by(Product.id)
            .with_for_update(key_share=True)
        )


def lock_lines(session: Session, line_ids: Iterable[int]) -> list[OrderLine]:
    """Lock lines in id order and return them re-read (another transaction may have changed them
    between an earlier unlocked read and this lock). The caller holds their products' locks."""
    ids = sorted(set(line_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            select(OrderLine)
            .where(OrderLine.id.in_(ids))
            .order_by(OrderLine.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    )
