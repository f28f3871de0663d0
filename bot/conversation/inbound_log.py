"""The inbound log's statements: each customer message written once per (channel, provider id).

``claim`` is the write that makes a handling count (see ``bot.inbound``): an insert that ignores a
duplicate, or an update of the row an earlier, failed attempt left unhandled. The statements are
Core, built once: their cache keys are computed once and the ORM's bulk machinery is skipped.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.conversation import Incoming
from store.models import InboundMessage

if TYPE_CHECKING:
    from bot.inbound import Received

# What the log keeps of a message's text (the whole text is handled; the log is for people).
MAX_LOGGED_BODY = 2000


def same_message(received: Received) -> tuple[Any, ...]:
    return (
        InboundMessage.channel == received.channel,
        InboundMessage.provider_id == storable(received.provider_id[:64]),
    )


class AlreadyHandled(Exception):
    """Another delivery of the message was handled first: undo this one."""


def claim(session: Session, received: Received, now: dt.datetime, outcome: dict[str, Any]) -> bool:
    """Write the message as handled; False if another delivery already handled it."""
    if insert_ignoring_duplicates(session, received, now, outcome):
        return True
    params = {
        **outcome,
        "key_channel": received.channel,
        "key_provider_id": storable(received.provider_id[:64]),
    }
    claimed = session.connection().execute(_CLAIM, params).rowcount
    return bool(claimed == 1)


_TABLE = cast(Table, InboundMessage.__table__)
# Built once, like the statements below: only messages that look something up ask it.
MISSES_COUNT = (
    select(func.count())
    .select_from(_TABLE)
    .where(
        _TABLE.c.channel == bindparam("channel"),
        _TABLE.c.sender == bindparam("sender"),
        _TABLE.c.received_at >= bindparam("since"),
        _TABLE.c.missed.is_(True),
    )
)
# Core, built once (see ``_insert_statement``); an UPDATE's rowcount is reliable on both drivers.
_CLAIM = (
    update(_TABLE)
    .where(
        _TABLE.c.channel == bindparam("key_channel"),
        _TABLE.c.provider_id == bindparam("key_provider_id"),
        _TABLE.c.handled_at.is_(None),
    )
    .values(
        {
            column: bindparam(column)
            for column in (
                "handled_at",
                "customer_id",
                "intent",
                "actions",
                "reply_message",
                "missed",
            )
        }
    )
)


def insert_ignoring_duplicates(
    session: Session,
    received: Received,
    now: dt.datetime,
    outcome: dict[str, Any] | None = None,
) -> bool:
    return insert_returning_id(session, received, now, outcome) is not None


def insert_returning_id(
    session: Session,
    received: Received,
    now: dt.datetime,
    outcome: dict[str, Any] | None = None,
) -> int | None:
    """The new row's id, or None when the message was already logged (a provider's retry)."""
    values = {
        "channel": received.channel,
        "provider_id": storable(received.provider_id[:64]),
        "sender": storable(received.sender[:64]),
        "body": logged_body(received.incoming),
        "payload": received.payload,
        "received_at": now,
        "missed": False,
        "handled_at": None,
        "customer_id": None,
        "intent": None,
        "actions": None,
        "reply_message": None,
        **(outcome or {}),
    }
    statement = _INSERTS[session.get_bind().dialect.name]
    # RETURNING, not rowcount: PostgreSQL reported -1 for the ORM form of this insert, and no
    # row back means the conflict was hit.
    return cast("int | None", session.connection().execute(statement, values).scalar())


def _insert_statement(dialect: Any) -> Any:
    # A Core statement on the table, built once: its cache key is computed once, and the ORM's
    # bulk-insert machinery (a third of this function's time when built per call) is skipped.
    table = _TABLE
    return (
        dialect.insert(table)
        .on_conflict_do_nothing(index_elements=["channel", "provider_id"])
        .returning(table.c.id)
    )


_INSERTS = {"postgresql": _insert_statement(postgresql), "sqlite": _insert_statement(sqlite)}


def logged_body(incoming: Incoming) -> str | None:
    if incoming.button_data is not None:
        return storable(f"[button] {incoming.button_data}"[:MAX_LOGGED_BODY])
    if incoming.contact is not None:
        return "[contact]"  # a phone number; not kept in the log
    # "[photo] where is my order?": the agent sees that something came besides the words.
    text = incoming.text
    shown = f"[{incoming.attachment}] {text}".strip() if incoming.attachment else text
    return storable(shown[:MAX_LOGGED_BODY]) or None


def storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL (SQLite can): a body with one must still be logged."""
    return text.replace("\x00", "\ufffd")
