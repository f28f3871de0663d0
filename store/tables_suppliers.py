"""Tables for asking suppliers for dates (``store.supplier_requests``).

A request is one e-mail to one supplier listing the SKUs it owes dates for, with a private
link to the supplier page. The link's token is derived, like the order page's
(``store.order_links``): ``HMAC(key, request id + nonce)``, and only its SHA-256 is stored.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.models import Base, Product, PurchaseOrderLine, Supplier, _enum, utcnow


class SupplierAnswer(StrEnum):
    CONFIRMED = "confirmed"  # the date the shop had still holds
    CHANGED = "changed"  # a new date
    UNKNOWN = "unknown"  # the supplier cannot say


class SupplierRequest(Base):
    """One ask: open until answered, revoked or expired; reminded once, then escalated."""

    __tablename__ = "supplier_requests"
    __table_args__ = (Index("ix_supplier_requests_open", "supplier_id", "answered_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    nonce: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    reminded_at: Mapped[dt.datetime | None]
    # No answer after the reminder either: shown on the agents' board from then on.
    escalated_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    note: Mapped[str | None] = mapped_column(Text)

    supplier: Mapped[Supplier] = relationship()
    items: Mapped[list[SupplierRequestItem]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="SupplierRequestItem.id"
    )


class SupplierRequestItem(Base):
    """One SKU of a request, with what the e-mail said about it and what the supplier answered."""

    __tablename__ = "supplier_request_items"
    __table_args__ = (UniqueConstraint("request_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("supplier_requests.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    units_waiting: Mapped[int]
    oldest_placed_at: Mapped[dt.datetime]
    eta_asked: Mapped[dt.date | None] = mapped_column(Date)  # the date the shop had when asking
    answer: Mapped[SupplierAnswer | None] = mapped_column(_enum(SupplierAnswer, "answer"))
    answered_eta: Mapped[dt.date | None] = mapped_column(Date)

    request: Mapped[SupplierRequest] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()
    line_answers: Mapped[list[SupplierLineAnswer]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="SupplierLineAnswer.id"
    )


class SupplierLineAnswer(Base):
    """The supplier's word on one purchase-order line of a request's SKU (the latest one).

    The line's ``expected_date`` takes the answer; the SKU's date becomes the earliest open
    line's, as when a purchase order is imported (``store.catalog.record_purchase_order``).
    """

    __tablename__ = "supplier_line_answers"
    __table_args__ = (UniqueConstraint("item_id", "purchase_order_line_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("supplier_request_items.id"))
    purchase_order_line_id: Mapped[int] = mapped_column(
        ForeignKey("purchase_order_lines.id"), index=True
    )
    answer: Mapped[SupplierAnswer] = mapped_column(_enum(SupplierAnswer, "answer"))
    answered_eta: Mapped[dt.date | None] = mapped_column(Date)
    answered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    item: Mapped[SupplierRequestItem] = relationship(back_populates="line_answers")
    purchase_order_line: Mapped[PurchaseOrderLine] = relationship()


__all__ = ["SupplierAnswer", "SupplierLineAnswer", "SupplierRequest", "SupplierRequestItem"]
