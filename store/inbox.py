"""The agents' inbox: what needs a person, gathered per conversation, assigned and closed.

Rules:

- a customer message that needs a person (the bot did not understand it, the customer asked for
  a person, an opt-out, a failed link, a guesser refused) is filed by :func:`file_message` in the
  transaction that records the message as handled (``bot.inbound``): the two commit together or
  not at all, so nothing a customer wrote is lost from the inbox;
- one open item per customer (a sender we do not know: per channel and address) gathers those
  messages until an agent closes it; it shows its most pressing reason (``InboxKind`` order).
  Partial unique indexes make that a database guarantee: processes filing a customer's first
  messages at once open one item between them (``INSERT ... ON CONFLICT DO NOTHING``);
- asking for a person hands the customer off (``customers.handed_off_at``): their next texts
  are filed here and the bot stays quiet until an agent closes the item (:func:`close`);
- failed, undelivered and unknown deliveries become one item per outbox row, filed by
  :func:`file_delivery_failures` with the given ``outbox_ids`` in the transaction that marks
  them so (the dispatcher's outcomes, a lease recovered mid-send, a delivery report): an agent
  sees them without anyone opening the inbox first. ``INSERT ... SELECT ... ON CONFLICT DO
  NOTHING`` on the unique ``outbox_id``: however often a failure is seen (the dispatcher and a
  report), it is filed once; rows marked before that were filed by migration 0025;
- assigning an item someone else holds needs ``take_over`` (two agents must not answer one
  customer at once without knowing it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

from sqlalchemy import ColumnElement, Select, Table, case, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store import audit
from store.errors import Conflict, InvalidInput, NotFound
from store.models import Channel, Customer, InboundMessage, OutboxMessage, OutboxStatus
from store.tables_inbox import InboxItem, InboxKind, InboxMessage, open_conversation

__all__ = [
    "MAX_PAGE",
    "InboxPage",
    "ItemView",
    "assign",
    "close",
    "counts",
    "file_delivery_failures",
    "file_message",
    "item_messages",
    "list_items",
]

MAX_PAGE = 100
_PRIORITY = {kind: rank for rank, kind in enumerate(InboxKind)}
_DELIVERY_STATUSES = (OutboxStatus.FAILED, OutboxStatus.UNDELIVERED, OutboxStatus.UNKNOWN)
State = Literal["open", "closed", "all"]


@dataclass(frozen=True, slots=True)
class ItemView:
    """One inbox item as an agent reads it in a list."""

    id: int
    kind: str
    customer_id: int | None
    customer_name: str | None
    channel: str
    sender: str
    detail: str | None
    message_count: int
    last_text: str | None
    created_at: dt.datetime
    last_at: dt.datetime
    assigned_to: str | None
    closed_at: dt.datetime | None
    closed_by: str | None


@dataclass(frozen=True, slots=True)
class InboxPage:
    items: list[ItemView]
    total: int
    page: int
    pages: int


def file_message(
    session: Session,
    *,
    inbound_id: int,
    kind: InboxKind,
    channel: Channel,
    sender: str,
    customer: Customer | None,
    now: dt.datetime,
) -> int:
    """File one inbound message under its conversation's open item (made if none); its id.

    A request for a person also hands the customer off (see the module docstring).
    """
    item = _open_item(session, channel, sender, customer)
    if item is None:
        _open_new_item(session, kind, channel, sender, customer, now)
        item = _open_item(session, channel, sender, customer)
        assert item is not None  # made above, or by the transaction that won the race
    if _PRIORITY[kind] < _PRIORITY[item.kind]:
        item.kind = kind
    item.message_count += 1
    item.last_at = now
    session.add(InboxMessage(inbound_id=inbound_id, item_id=item.id, kind=kind))
    if kind is InboxKind.HUMAN_REQUESTED and customer is not None:
        customer.handed_off_at = now
    return item.id


def _open_new_item(
    session: Session,
    kind: InboxKind,
    channel: Channel,
    sender: str,
    customer: Customer | None,
    now: dt.datetime,
) -> None:
    """Open the conversation's item unless one is open: when another transaction opens it
    first, the partial unique index makes this a no-op (PostgreSQL waits for that transaction
    to commit), and the caller reads the winner's item."""
    known = customer is not None
    values = {
        "kind": kind,
        "customer_id": customer.id if customer is not None else None,
        "channel": channel,
        "sender": sender[:64],
        "message_count": 0,
        "created_at": now,
        "last_at": now,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(cast(Table, InboxItem.__table__))
        .values(values)
        .on_conflict_do_nothing(
            index_elements=["customer_id"] if known else ["channel", "sender"],
            index_where=open_conversation(known),
        )
    )
    session.execute(statement)


def _open_item(
    session: Session, channel: Channel, sender: str, customer: Customer | None
) -> InboxItem | None:
    """The conversation's open item, locked (its count and kind change under concurrent
    filings); read afresh, since the ORM may hold a stale copy from before the insert."""
    query = select(InboxItem).where(InboxItem.closed_at.is_(None), InboxItem.outbox_id.is_(None))
    if customer is not None:
        query = query.where(InboxItem.customer_id == customer.id)
    else:
        query = query.where(
            InboxItem.customer_id.is_(None),
            InboxItem.channel == channel,
            InboxItem.sender == sender[:64],
        )
    query = query.order_by(InboxItem.id).limit(1).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).first()


def file_delivery_failures(session: Session, now: dt.datetime, outbox_ids: Sequence[int]) -> int:
    """File these failed, undelivered or unknown deliveries (the rows the caller just marked, in
    its transaction) unless filed already; how many were filed. Rows marked before filing
    happened at the moment of failure were filed by migration 0025, so no read sweeps."""
    if not outbox_ids:
        return 0
    table = cast(Table, InboxItem.__table__)
    o = OutboxMessage
    kind = case(
        (o.status == OutboxStatus.UNKNOWN, literal(InboxKind.DELIVERY_UNKNOWN.value)),
        else_=literal(InboxKind.DELIVERY_FAILED.value),
    )
    rows = select(
        kind,
        o.customer_id,
        o.channel,
        o.address,
        o.id,
        func.substr(o.last_error, 1, 300),
        literal(0),
        literal(now, InboxItem.created_at.type),
        literal(now, InboxItem.last_at.type),
    ).where(o.status.in_(_DELIVERY_STATUSES), ~exists().where(InboxItem.outbox_id == o.id))
    rows = rows.where(o.id.in_(list(outbox_ids)))
    columns = [
        *("kind", "customer_id", "channel", "sender", "outbox_id", "detail"),
        *("message_count", "created_at", "last_at"),
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["outbox_id"])
        .returning(table.c.id)
    )
    return len(session.execute(statement).all())


def close(session: Session, item_id: int, agent: str, now: dt.datetime) -> InboxItem:
    """Close an item (again: nothing changes); a customer with no open item is no longer
    handed off, so the bot answers them again."""
    item = _item(session, item_id)
    if item.closed_at is not None:
        return item
    item.closed_at = now
    item.closed_by = agent[:64]
    if item.customer_id is not None:
        session.flush()
        still_open = session.scalar(
            select(func.count()).select_from(InboxItem).where(*_waiting(item.customer_id))
        )
        if not still_open:
            session.execute(
                update(Customer).where(Customer.id == item.customer_id).values(handed_off_at=None)
            )
    audit.record(
        session, agent, "inbox.close", subject=f"inbox:{item.id}", now=now, kind=item.kind.value
    )
    return item


def _waiting(customer_id: int) -> tuple[ColumnElement[bool], ...]:
    """The customer's open conversations with a person (their hand-off lasts while one is)."""
    return (
        InboxItem.customer_id == customer_id,
        InboxItem.closed_at.is_(None),
        InboxItem.kind == InboxKind.HUMAN_REQUESTED,
    )


def assign(
    session: Session, item_id: int, agent: str, now: dt.datetime, *, take_over: bool = False
) -> InboxItem:
    """Make the item ``agent``'s; :class:`Conflict` when another agent holds it, unless
    ``take_over``. Assigning a closed item is refused: reopening is not assigning."""
    item = _item(session, item_id)
    if item.closed_at is not None:
        raise Conflict(f"inbox item {item_id} is closed")
    if item.assigned_to not in (None, agent) and not take_over:
        raise Conflict(f"inbox item {item_id} is assigned to {item.assigned_to}")
    if item.assigned_to != agent:
        previous = item.assigned_to
        item.assigned_to = agent[:64]
        item.assigned_at = now
        audit.record(
            session, agent, "inbox.assign", subject=f"inbox:{item.id}", now=now, previous=previous
        )
    return item


def _item(session: Session, item_id: int) -> InboxItem:
    item = session.get(InboxItem, item_id, with_for_update=True)
    if item is None:
        raise NotFound(f"inbox item {item_id} does not exist")
    return item


def counts(session: Session, agent: str | None) -> dict[str, int]:
    """Open items, and those assigned to ``agent``: the navigation's badges."""
    open_items = select(func.count()).select_from(InboxItem).where(InboxItem.closed_at.is_(None))
    mine = 0
    if agent is not None:
        mine = session.scalar(open_items.where(InboxItem.assigned_to == agent)) or 0
    return {"open": session.scalar(open_items) or 0, "mine": mine}


def list_items(
    session: Session,
    *,
    state: State = "open",
    assigned_to: str | None = None,
    kind: str | None = None,
    customer_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> InboxPage:
    """Items newest activity first, filtered; ``page`` counts from 1 (past the last: the last)."""
    if kind is not None and kind not in InboxKind.__members__.values():
        raise InvalidInput(f"unknown kind {kind!r}", field="kind")
    if not 1 <= per_page <= MAX_PAGE or page < 1:
        raise InvalidInput("page out of range", field="page")
    conditions: list[ColumnElement[bool]] = []
    if state == "open":
        conditions.append(InboxItem.closed_at.is_(None))
    elif state == "closed":
        conditions.append(InboxItem.closed_at.is_not(None))
    if assigned_to is not None:
        conditions.append(InboxItem.assigned_to == assigned_to)
    if kind is not None:
        conditions.append(InboxItem.kind == InboxKind(kind))
    if customer_id is not None:
        conditions.append(InboxItem.customer_id == customer_id)
    total = session.scalar(select(func.count()).select_from(InboxItem).where(*conditions)) or 0
    pages = max(1, -(-total // per_page))
    page = min(page, pages)
    query = _item_rows().where(*conditions).order_by(InboxItem.last_at.desc(), InboxItem.id.desc())
    rows = session.execute(query.offset((page - 1) * per_page).limit(per_page)).all()
    return InboxPage([_view(row[0], row[1], row[2]) for row in rows], total, page, pages)


def _item_rows() -> Select[InboxItem, str | None, str | None]:
    latest = (
        select(InboundMessage.body)
        .join(InboxMessage, InboxMessage.inbound_id == InboundMessage.id)
        .where(InboxMessage.item_id == InboxItem.id)
        .order_by(InboundMessage.id.desc())
        .limit(1)
        .correlate(InboxItem)
        .scalar_subquery()
    )
    return (
        select(InboxItem, Customer.name, latest)
        .select_from(InboxItem)
        .outerjoin(Customer, Customer.id == InboxItem.customer_id)
    )


def _view(item: InboxItem, name: str | None, last_text: str | None) -> ItemView:
    return ItemView(
        id=item.id,
        kind=item.kind.value,
        customer_id=item.customer_id,
        customer_name=name,
        channel=item.channel.value,
        sender=item.sender,
        detail=item.detail,
        message_count=item.message_count,
        last_text=last_text,
        created_at=item.created_at,
        last_at=item.last_at,
        assigned_to=item.assigned_to,
        closed_at=item.closed_at,
        closed_by=item.closed_by,
    )


def item_messages(session: Session, item_ids: Sequence[int]) -> dict[int, list[int]]:
    """The inbound message ids filed under each item (tests and the API's detail)."""
    rows = session.execute(
        select(InboxMessage.item_id, InboxMessage.inbound_id).where(
            InboxMessage.item_id.in_(list(item_ids))
        )
    )
    found: dict[int, list[int]] = {}
    for item_id, inbound_id in rows:
        found.setdefault(item_id, []).append(inbound_id)
    return found
