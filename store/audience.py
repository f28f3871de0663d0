"""Who a broadcast reaches: audience filters as SQL, read as a stream of one row per customer.

A customer is in the audience when at least one of their order lines matches every filter
given; they appear once, with one representative line (the oldest matching one) for the
message's placeholders. Rows come in customer-id order so a broadcast can remember the last
customer it queued and resume after it; they are streamed (``yield_per``), so a million
customers never sit in memory at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from store.errors import InvalidInput
from store.models import (
    Channel,
    Customer,
    LineStatus,
    Offer,
    Order,
    OrderLine,
    Product,
    ReachState,
    Supplier,
)

STREAM_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class AudienceFilter:
    """Filters combine with AND; ``None`` means "any".

    ``status`` is the order line's status (default: waiting customers, ``backordered``);
    ``waiting_days_min`` counts from the order's date; ``eta_before``/``eta_after`` compare
    the product's current supplier date (exclusive; lines without a date never match);
    ``locale`` matches the language and its regional variants (``es`` matches ``es-MX``);
    ``channel`` keeps only customers who have that channel, and sends on it alone.
    """

    sku: str | None = None
    supplier: str | None = None
    status: LineStatus = LineStatus.BACKORDERED
    waiting_days_min: int | None = None
    eta_before: dt.date | None = None
    eta_after: dt.date | None = None
    locale: str | None = None
    channel: Channel | None = None

    def __post_init__(self) -> None:
        if self.waiting_days_min is not None and self.waiting_days_min < 0:
            raise InvalidInput("waiting_days_min cannot be negative")
        if self.eta_before and self.eta_after and self.eta_after >= self.eta_before:
            raise InvalidInput("eta_after must be earlier than eta_before")

    def to_json(self) -> dict[str, Any]:
        """The filters as stored with a broadcast (only those given, dates as ISO text)."""
        values = asdict(self)
        return {
            key: value.isoformat()
            if isinstance(value, dt.date)
            else str(value)
            if isinstance(value, LineStatus | Channel)
            else value
            for key, value in values.items()
            if value is not None
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AudienceFilter:
        dates = {"eta_before", "eta_after"}
        values: dict[str, Any] = {
            key: dt.date.fromisoformat(value) if key in dates else value
            for key, value in data.items()
        }
        if "status" in values:
            values["status"] = LineStatus(values["status"])
        if values.get("channel") is not None:
            values["channel"] = Channel(values["channel"])
        return cls(**values)


class AudienceRow(NamedTuple):
    """One customer of the audience, with what routing and the placeholders need."""

    customer_id: int
    name: str
    locale: str
    timezone: str
    preferred_channel: Channel
    phone: str | None
    sms_state: ReachState
    telegram_chat_id: int | None
    telegram_state: ReachState
    order_number: str
    product_name: str
    sku: str
    quantity: int
    backordered_quantity: int
    eta: dt.date | None
    coupon: str | None


def _conditions(filters: AudienceFilter, now: dt.datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [OrderLine.status == filters.status]
    if filters.sku is not None:
        conditions.append(Product.sku == filters.sku)
    if filters.supplier is not None:
        conditions.append(Supplier.name == filters.supplier)
    if filters.waiting_days_min is not None:
        conditions.append(Order.placed_at <= now - dt.timedelta(days=filters.waiting_days_min))
    if filters.eta_before is not None:
        conditions.append(Product.eta < filters.eta_before)
    if filters.eta_after is not None:
        conditions.append(Product.eta > filters.eta_after)
    if filters.locale is not None:
        language = filters.locale.strip().replace("_", "-")
        conditions.append(
            or_(
                func.lower(Customer.locale) == language.lower(),
                func.lower(Customer.locale).like(language.lower() + "-%"),
            )
        )
    if filters.channel == Channel.SMS:
        conditions.append(Customer.phone.is_not(None))
    elif filters.channel == Channel.TELEGRAM:
        conditions.append(Customer.telegram_chat_id.is_not(None))
    return conditions


def _matching_lines(filters: AudienceFilter, now: dt.datetime) -> Any:
    """customer_id -> the oldest matching line, one row per customer."""
    query = (
        select(Order.customer_id.label("customer_id"), func.min(OrderLine.id).label("line_id"))
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .join(Customer, Customer.id == Order.customer_id)
        .where(and_(*_conditions(filters, now)))
        .group_by(Order.customer_id)
    )
    if filters.supplier is not None:
        query = query.join(Supplier, Supplier.id == Product.supplier_id)
    return query.subquery("matching")


def audience_query(
    filters: AudienceFilter, now: dt.datetime, *, after_customer_id: int = 0
) -> Select[*tuple[Any, ...]]:
    """The audience in customer-id order, starting after ``after_customer_id``."""
    matching = _matching_lines(filters, now)
    # The line's latest coupon (from a "wait" choice): a correlated look-up by the indexed line.
    coupon = (
        select(Offer.coupon_code)
        .where(Offer.line_id == OrderLine.id, Offer.coupon_code.is_not(None))
        .order_by(Offer.id.desc())
        .limit(1)
        .correlate(OrderLine)
        .scalar_subquery()
    )
    return (
        select(
            Customer.id,
            Customer.name,
            Customer.locale,
            Customer.timezone,
            Customer.preferred_channel,
            Customer.phone,
            Customer.sms_state,
            Customer.telegram_chat_id,
            Customer.telegram_state,
            Order.number,
            Product.name,
            Product.sku,
            OrderLine.quantity,
            OrderLine.backordered_quantity,
            Product.eta,
            coupon,
        )
        .select_from(matching)
        .join(Customer, Customer.id == matching.c.customer_id)
        .join(OrderLine, OrderLine.id == matching.c.line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(Customer.id > after_customer_id)
        .order_by(Customer.id)
    )


def stream(
    session: Session,
    filters: AudienceFilter,
    now: dt.datetime,
    *,
    after_customer_id: int = 0,
    chunk: int = STREAM_CHUNK,
) -> Generator[list[AudienceRow], None, None]:
    """The audience in chunks of ``chunk`` customers, read with a server-side cursor.

    Run it in its own (read) session: on PostgreSQL the cursor holds that connection for the
    whole read, and on SQLite the WAL snapshot lets writers commit meanwhile. A consumer that
    may stop early should ``close()`` the generator before the session ends.
    """
    result = session.execute(
        audience_query(filters, now, after_customer_id=after_customer_id),
        execution_options={"yield_per": chunk},
    )
    try:
        for partition in result.partitions():
            yield [AudienceRow(*row) for row in partition]
    finally:
        # A consumer that stops early (a crash, a cancel) must close the server-side cursor
        # before its session ends, or psycopg closes it later on a finished transaction.
        result.close()


def count(session: Session, filters: AudienceFilter, now: dt.datetime) -> int:
    """How many customers match (before reachability), for progress bars and previews."""
    matching = _matching_lines(filters, now)
    return int(session.scalar(select(func.count()).select_from(matching)) or 0)
