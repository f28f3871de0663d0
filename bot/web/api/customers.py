"""``GET /api/customers?q=`` (search), ``GET /api/customers/{id}`` (who they are, consent,
orders) and ``GET /api/customers/{id}/messages`` (their one timeline, newest first, a page at
a time: pass the answer's ``next_cursor`` back as ``cursor`` for the next page).

Searches carry phone numbers in the query string; nothing here logs a query, and the access
log drops query strings (:mod:`bot.web.access_log`).
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict

from bot.agents.timeline_text import entry_text
from bot.settings import Settings
from bot.web.api.errors import MAX_INT, ApiRoute, unprocessable
from store.customer_profile import profile
from store.customer_timeline import MAX_LIMIT, TimelinePage, timeline
from store.db import Database
from store.errors import InvalidInput
from store.models import Customer
from store.search import MAX_QUERY_LENGTH, search

CustomerId = Annotated[int, Path(gt=0, le=MAX_INT)]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class HitOut(_Out):
    customer_id: int
    name: str
    phone: str | None
    matched: Literal["phone", "order", "sku", "name"]
    detail: str | None = None


class SearchOut(_Out):
    query: str
    hits: list[HitOut]
    sku: str | None
    order_number: str | None
    truncated: bool


class ConsentOut(_Out):
    state: Literal["active", "opted_out", "unreachable", "invalid"]
    changed_at: dt.datetime | None
    consent_at: dt.datetime | None
    address_known: bool


class LineOut(_Out):
    id: int
    sku: str
    product_name: str
    quantity: int
    allocated_quantity: int
    backordered_quantity: int
    shipped_quantity: int
    status: str
    eta: dt.date | None
    open_offer_expires_at: dt.datetime | None


class OrderOut(_Out):
    number: str
    placed_at: dt.datetime
    status: str
    lines: list[LineOut]


class CustomerOut(_Out):
    id: int
    name: str
    phone: str | None
    email: str | None
    locale: str
    timezone: str
    preferred_channel: str
    created_at: dt.datetime
    sms: ConsentOut
    telegram: ConsentOut
    orders: list[OrderOut]
    more_orders: bool


class EntryOut(_Out):
    at: dt.datetime
    kind: Literal["inbound", "outbound", "choice", "link_issued", "link_revoked", "refund"]
    id: int
    channel: str | None
    text: str | None
    status: str | None
    error: str | None
    message: str | None
    broadcast_id: int | None
    choice: str | None
    via: str | None
    order_number: str | None
    sku: str | None
    amount_minor: int | None
    currency: str | None
    agent: str | None = None  # who wrote a reply by hand


class TimelineOut(_Out):
    entries: list[EntryOut]
    next_cursor: str | None


def router(settings: Settings, db: Database) -> APIRouter:
    routes = APIRouter(tags=["customers"], route_class=ApiRoute)
    region = settings.default_phone_region

    @routes.get("/customers")
    async def get_customers(
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_LENGTH)],
    ) -> SearchOut:
        """Customers by phone (any format), part of a name, order number or SKU."""

        def read() -> SearchOut:
            with db.read_session() as session:
                return SearchOut.model_validate(search(session, q, default_region=region))

        return await asyncio.to_thread(read)

    @routes.get("/customers/{customer_id}", responses={404: {"description": "no such customer"}})
    async def get_customer(customer_id: CustomerId) -> CustomerOut:
        """Who the customer is, their consent per channel, and their orders (newest first)."""

        def read() -> CustomerOut | None:
            with db.read_session() as session:
                found = profile(session, customer_id)
                return CustomerOut.model_validate(found) if found is not None else None

        found = await asyncio.to_thread(read)
        if found is None:
            raise HTTPException(status_code=404, detail=f"customer {customer_id} does not exist")
        return found

    @routes.get(
        "/customers/{customer_id}/messages", responses={404: {"description": "no such customer"}}
    )
    async def get_customer_messages(
        customer_id: CustomerId,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    ) -> TimelineOut:
        """Everything in and out on every channel, choices, links and refunds, newest first.

        ``text`` reads as the customer saw it (Telegram HTML as plain text); the keys of links
        (order pages, Telegram ``/start``) are masked.
        """

        def read() -> TimelineOut | None:
            with db.read_session() as session:
                if session.get(Customer, customer_id) is not None:
                    page = timeline(session, customer_id, before=cursor, limit=limit)
                    return _timeline_out(page)
                return None

        try:
            found = await asyncio.to_thread(read)
        except InvalidInput as exc:
            unprocessable(["query", exc.field or "cursor"], str(exc))
        if found is None:
            raise HTTPException(status_code=404, detail=f"customer {customer_id} does not exist")
        return found

    return routes


def _timeline_out(page: TimelinePage) -> TimelineOut:
    """Texts as the dashboard shows them: Telegram HTML as plain text, link keys masked."""
    entries = [
        EntryOut.model_validate(e).model_copy(update={"text": entry_text(e)}) for e in page.entries
    ]
    return TimelineOut(entries=entries, next_cursor=page.next_cursor)
