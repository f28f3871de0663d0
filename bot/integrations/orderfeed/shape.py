"""The feed's one JSON shape: a batch of events, each an order, a cancellation, a shipment or
a stock count, read into typed values. Pure: no database.

The batch is checked whole first (``read_batch``): a body that is not ``{"events": [...]}``
with 1 to ``MAX_EVENTS`` events, each with its own ``id``, is refused whole (nothing applied).
Each event's content is then read on its own (``read_event``): one that does not fit is
refused with the reason, recorded under its id, and the others still apply.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

__all__ = [
    "MAX_EVENTS",
    "BadBatch",
    "Cancellation",
    "Event",
    "FeedCustomer",
    "FeedLine",
    "FeedOrder",
    "Raw",
    "Shipment",
    "StockCount",
    "read_batch",
    "read_event",
]

MAX_EVENTS = 100
MAX_ID = 128
MAX_INT = 2**31 - 1
Sku = Annotated[str, Field(min_length=1, max_length=64)]
Number = Annotated[str, Field(min_length=1, max_length=64)]


class BadBatch(Exception):
    """The body as a whole is not a batch of events: 400, nothing applied."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FeedCustomer(_Strict):
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32)  # refused later when missing
    email: str | None = Field(default=None, max_length=320)
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)


class FeedLine(_Strict):
    sku: Sku
    quantity: int = Field(gt=0, le=MAX_INT)


class FeedOrder(_Strict):
    number: Number
    placed_at: AwareDatetime | None = None
    currency: str = Field(min_length=3, max_length=3)
    customer: FeedCustomer
    lines: list[FeedLine] = Field(min_length=1, max_length=500)


class _Event(_Strict):
    id: str
    occurred_at: AwareDatetime


class OrderPlaced(_Event):
    type: Literal["order"]
    order: FeedOrder


class Cancellation(_Event):
    type: Literal["cancellation"]
    order_number: Number
    skus: list[Sku] | None = Field(default=None, min_length=1)  # None: every open line


class Shipment(_Event):
    type: Literal["shipment"]
    order_number: Number
    carrier: str | None = Field(default=None, max_length=64)
    tracking: str | None = Field(default=None, max_length=128)
    tracking_url: str | None = Field(default=None, max_length=500)
    lines: list[FeedLine] | None = None  # None: every reserved unit of the order


class StockCount(_Event):
    type: Literal["stock"]
    sku: Sku
    count: int = Field(ge=0, le=MAX_INT)


Event = OrderPlaced | Cancellation | Shipment | StockCount
_EVENT: TypeAdapter[Event] = TypeAdapter(
    Annotated[OrderPlaced | Cancellation | Shipment | StockCount, Field(discriminator="type")]
)


class Raw(BaseModel):
    """One event as sent: its id and type known, its content not yet read."""

    model_config = ConfigDict(frozen=True)
    id: str
    type: str
    data: dict[str, object]


def read_batch(body: bytes) -> list[Raw]:
    """The batch's events, each with a usable id, ids unique; ``BadBatch`` otherwise."""
    try:
        data = json.loads(body)
    except ValueError:
        raise BadBatch("the body is not JSON") from None
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        raise BadBatch(f'the body must be {{"events": [...]}} with 1 to {MAX_EVENTS} events')
    found: list[Raw] = []
    for index, event in enumerate(events):
        event_id = event.get("id") if isinstance(event, dict) else None
        if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_ID:
            raise BadBatch(f"events[{index}] has no id (a string of 1 to {MAX_ID} characters)")
        kind = event.get("type")
        found.append(Raw(id=event_id, type=kind if isinstance(kind, str) else "", data=event))
    if len({raw.id for raw in found}) != len(found):
        raise BadBatch("two events in the batch have the same id")
    return found


def read_event(raw: Raw) -> Event:
    """The event's content; ``ValueError`` with every problem, by field, otherwise."""
    try:
        return _EVENT.validate_python(raw.data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'event'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise ValueError(problems) from None


def utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)
