"""Goods in: record a receipt once, then fill waiting lines oldest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.allocation import Allocation, add_stock, allocate_waiting
from store.errors import Conflict, InvalidInput, NotFound
from store.locking import lock_products
from store.models import Product, StockReceipt


@dataclass(frozen=True, slots=True)
class ReceiptResult:
    receipt: StockReceipt
    allocations: list[Allocation]
    duplicate: bool = False  # this reference had been received already: nothing changed


def receive_stock(
    session: Session,
    sku: str,
    quantity: int,
    *,
    now: dt.datetime,
    reference: str | None = None,
) -> ReceiptResult:
    """Add received units and allocate them to waiting lines (FIFO, partial fills allowed).

    A receipt with a ``reference`` is idempotent: the same delivery reported twice counts once,
    and the same reference with another SKU or quantity is a ``Conflict``.
    """
    if quantity <= 0:
        raise InvalidInput("quantity must be a positive whole number")
    product = session.scalars(select(Product).where(Product.sku == sku)).first()
    if product is None:
        raise NotFound(f"unknown sku {sku!r}")
    lock_products(session, [product.id])  # first, before any line (``store.locking``)
    if reference is not None:
        previous = session.scalars(
            select(StockReceipt).where(StockReceipt.reference == reference)
        ).first()
        if previous is not None:
            if (previous.product_id, previous.quantity) != (product.id, quantity):
                raise Conflict(f"receipt {reference} was already recorded with other content")
            return ReceiptResult(previous, [], duplicate=True)
    receipt = StockReceipt(
        product_id=product.id, quantity=quantity, reference=reference, created_at=now
    )
    session.add(receipt)
    add_stock(session, product.id, quantity)
    allocations = allocate_waiting(session, product.id, now)
    receipt.allocated_quantity = sum(a.quantity for a in allocations)
    session.flush()
    return ReceiptResult(receipt, allocations)
