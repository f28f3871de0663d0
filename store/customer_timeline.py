"""One customer's timeline: everything said and done with them, on every channel, newest first.

Entries come from six places, each read with its own index-friendly query: what the customer
sent (``inbound_messages``; also texts from their number or chat not handled yet), what we sent
or mean to send, with its delivery status and the last error (``outbox_messages``,
``delivery_attempts``), the choices made on their offers and by whom (``offers.decided_via``:
sms, telegram, web, expiry, agent), the order-page links issued and revoked
(``order_page_links``) and the refunds owed (``refunds``).

Pages are keyset-paginated on ``(at, kind, id)``: ``kind`` breaks ties between two tables' rows
of the same instant (their ids may be equal), so a page boundary never skips or repeats an
entry, however many share a timestamp, and rows added while an agent reads only ever appear on
the first page. Each source returns at most ``limit + 1`` rows older than the cursor; the merge
of those is exactly the next page.

An order has one link row: a link re-issued after a revocation replaces the earlier one, so
only the latest issue (and its revocation, if any) is in the timeline.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from store.errors import InvalidInput
from store.models import (
    Channel,
    Customer,
    DeliveryAttempt,
    InboundMessage,
    Offer,
    Order,
    OrderLine,
    OrderPageLink,
    OutboxMessage,
    Product,
    Refund,
)
from store.tables_inbox import AgentReply

__all__ = ["KINDS", "MAX_LIMIT", "Cursor", "Entry", "TimelinePage", "timeline"]

MAX_LIMIT = 200
KINDS = ("choice", "inbound", "link_issued", "link_revoked", "outbound", "refund")


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """Where a page ended: the last entry's ``(at, kind, id)``. Opaque to clients."""

    at: dt.datetime
    kind: str
    id: int

    def encode(self) -> str:
        raw = f"{self.at.astimezone(dt.UTC).isoformat()}|{self.kind}|{self.id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Read a cursor made by :meth:`encode`; anything else is ``InvalidInput``."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            at_text, kind, id_text = raw.split("|")
            at = dt.datetime.fromisoformat(at_text)
            # In UTC now: an offset past year 9999 or before year 1 would overflow at the query.
            cursor = cls(at.astimezone(dt.UTC), kind, int(id_text))
        except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
            raise InvalidInput("this cursor was not made by this API", field="cursor") from None
        if at.tzinfo is None or kind not in KINDS or not 0 <= cursor.id < 2**63:
            raise InvalidInput("this cursor was not made by this API", field="cursor")
        return cursor


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing in the timeline. Which fields are set depends on ``kind``:

    - ``inbound``: channel, text, status (handled / unhandled), message (the intent read);
    - ``outbound``: channel, text, status (the outbox status), error, message (the template),
      broadcast_id, agent (who wrote it, for a reply by hand);
    - ``choice``: choice, via (who chose), status (accepted / expired), order_number, sku;
    - ``link_issued`` / ``link_revoked``: order_number;
    - ``refund``: amount_minor, currency, text (the reason), status (due / settled),
      order_number, sku.
    """

    at: dt.datetime
    kind: str
    id: int
    channel: str | None = None
    text: str | None = None
    status: str | None = None
    error: str | None = None
    message: str | None = None
    broadcast_id: int | None = None
    choice: str | None = None
    via: str | None = None
    order_number: str | None = None
    sku: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    agent: str | None = None

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, self.kind, self.id)


@dataclass(frozen=True, slots=True)
class TimelinePage:
    entries: list[Entry]
    next_cursor: str | None  # None: this is the last page


def timeline(
    session: Session, customer_id: int, *, before: str | None = None, limit: int = 50
) -> TimelinePage:
    """The customer's entries older than the ``before`` cursor (newest first), ``limit`` of them."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1 to {MAX_LIMIT}", field="limit")
    cursor = Cursor.decode(before) if before is not None else None
    merged: list[Entry] = []
    for source in _SOURCES:
        merged += source(session, customer_id, cursor, limit + 1)
    merged.sort(key=lambda e: e.cursor, reverse=True)
    page = merged[:limit]
    more = len(merged) > limit
    return TimelinePage(page, page[-1].cursor.encode() if more and page else None)


Source = Callable[[Session, int, "Cursor | None", int], list[Entry]]


def _older(
    at: InstrumentedAttribute[Any], id_: InstrumentedAttribute[Any], kind: str, c: Cursor | None
) -> ColumnElement[bool]:
    """Rows of one source (all of one ``kind``) whose ``(at, kind, id)`` is below the cursor."""
    if c is None:
        return true()
    if kind < c.kind:
        return at <= c.at
    if kind > c.kind:
        return at < c.at
    return or_(at < c.at, and_(at == c.at, id_ < c.id))


Query = Select[*tuple[Any, ...]]


def _page(stmt: Query, at: Any, id_: Any, limit: int) -> Query:
    return stmt.order_by(at.desc(), id_.desc()).limit(limit)


def _inbound(session: Session, customer_id: int, c: Cursor | None, limit: int) -> list[Entry]:
    m = InboundMessage
    stmt = select(m).where(_theirs(session, customer_id), _older(m.received_at, m.id, "inbound", c))
    return [
        Entry(
            at=row.received_at,
            kind="inbound",
            id=row.id,
            channel=row.channel.value,
            text=row.body,
            status="handled" if row.handled_at is not None else "unhandled",
            message=row.intent,
        )
        for row in session.scalars(_page(stmt, m.received_at, m.id, limit))
    ]


def _theirs(session: Session, customer_id: int) -> ColumnElement[bool]:
    """Texts handled as this customer's, and texts from their addresses not handled yet: a
    text is logged before it is handled, without a customer, and a crash in between (or a
    handler still at work) must not hide it. Served by the sender index."""
    m = InboundMessage
    customer = session.get(Customer, customer_id)
    addresses = []
    if customer is not None and customer.phone is not None:
        addresses.append(and_(m.channel == Channel.SMS, m.sender == customer.phone))
    if customer is not None and customer.telegram_chat_id is not None:
        chat = str(customer.telegram_chat_id)
        addresses.append(and_(m.channel == Channel.TELEGRAM, m.sender == chat))
    if not addresses:
        return m.customer_id == customer_id
    return or_(m.customer_id == customer_id, and_(m.customer_id.is_(None), or_(*addresses)))


def _outbound(session: Session, customer_id: int, c: Cursor | None, limit: int) -> list[Entry]:
    m = OutboxMessage
    stmt = select(m).where(m.customer_id == customer_id, _older(m.created_at, m.id, "outbound", c))
    rows = list(session.scalars(_page(stmt, m.created_at, m.id, limit)))
    reasons = _last_attempt_errors(session, [row.id for row in rows])
    by_hand = [row.id for row in rows if row.message == "agent_reply"]
    agents: dict[int, str] = {}
    if by_hand:
        query = select(AgentReply.outbox_id, AgentReply.agent)
        found = session.execute(query.where(AgentReply.outbox_id.in_(by_hand)))
        agents = {outbox_id: agent for outbox_id, agent in found}
    return [
        Entry(
            at=row.created_at,
            kind="outbound",
            id=row.id,
            channel=row.channel.value,
            text=row.body,
            status=row.status.value,
            error=row.last_error or reasons.get(row.id),
            message=row.message,
            broadcast_id=row.broadcast_id,
            agent=agents.get(row.id),
        )
        for row in rows
    ]


def _last_attempt_errors(session: Session, outbox_ids: list[int]) -> dict[int, str]:
    """Each message's latest attempt's reason, where one was recorded (a retry's, a skip's)."""
    if not outbox_ids:
        return {}
    a = DeliveryAttempt
    rows = session.execute(
        select(a.outbox_id, a.reason, a.detail).where(a.outbox_id.in_(outbox_ids)).order_by(a.id)
    )
    found: dict[int, str] = {}
    for outbox_id, reason, detail in rows:
        text = ": ".join(part for part in (reason, detail) if part)
        if text:
            found[outbox_id] = text
        elif outbox_id in found:
            del found[outbox_id]  # a later attempt went through: no error to show
    return found


def _choices(session: Session, customer_id: int, c: Cursor | None, limit: int) -> list[Entry]:
    o = Offer
    stmt = (
        select(o.id, o.decided_at, o.choice, o.decided_via, o.status, Order.number, Product.sku)
        .join(OrderLine, OrderLine.id == o.line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(
            o.customer_id == customer_id,
            o.decided_at.is_not(None),
            _older(o.decided_at, o.id, "choice", c),
        )
    )
    return [
        Entry(
            at=row.decided_at,
            kind="choice",
            id=row.id,
            choice=row.choice.value if row.choice is not None else None,
            via=row.decided_via,
            status=row.status.value,
            order_number=row.number,
            sku=row.sku,
        )
        for row in session.execute(_page(stmt, o.decided_at, o.id, limit))
    ]


def _links(kind: str, at: InstrumentedAttribute[Any]) -> Source:
    def read(session: Session, customer_id: int, c: Cursor | None, limit: int) -> list[Entry]:
        link = OrderPageLink
        stmt = (
            select(link.id, at.label("at"), Order.number)
            .join(Order, Order.id == link.order_id)
            .where(Order.customer_id == customer_id, at.is_not(None), _older(at, link.id, kind, c))
        )
        rows: Iterable[Row[Any]] = session.execute(_page(stmt, at, link.id, limit))
        return [Entry(at=r.at, kind=kind, id=r.id, order_number=r.number) for r in rows]

    return read


def _refunds(session: Session, customer_id: int, c: Cursor | None, limit: int) -> list[Entry]:
    r = Refund
    stmt = (
        select(r, Order.number, Product.sku)
        .join(Order, Order.id == r.order_id)
        .join(OrderLine, OrderLine.id == r.line_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(Order.customer_id == customer_id, _older(r.created_at, r.id, "refund", c))
    )
    return [
        Entry(
            at=refund.created_at,
            kind="refund",
            id=refund.id,
            text=refund.reason,
            status="settled" if refund.settled_at is not None else "due",
            order_number=number,
            sku=sku,
            amount_minor=refund.amount_cents,
            currency=refund.currency,
        )
        for refund, number, sku in session.execute(_page(stmt, r.created_at, r.id, limit))
    ]


_SOURCES: tuple[Source, ...] = (
    _inbound,
    _outbound,
    _choices,
    _links("link_issued", OrderPageLink.issued_at),
    _links("link_revoked", OrderPageLink.revoked_at),
    _refunds,
)
