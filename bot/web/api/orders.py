"""``POST /api/orders`` (idempotent on the number) and ``GET /api/orders/{number}``.

Placing goes through ``store.orders.place_order``: the same number with the same content is
the same order (200, nothing changes), with other content a 409. A new customer is created from
the body; a known phone number keeps its stored customer as it is (the shop's record wins over
an order feed's copy of it).
"""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from bot.order_views import order_record
from bot.settings import Settings
from bot.web.api.errors import MAX_INT, ApiRoute, refusals, unprocessable
from store import queries
from store.customers import (
    CustomerData,
    check_timezone,
    find_by_phone,
    normalize_locale,
    normalize_phone,
    upsert_customer,
)
from store.db import Database
from store.errors import InvalidInput
from store.models import utcnow
from store.orders import LineRequest, place_order

Number = Annotated[str, Path(min_length=1, max_length=64)]


class CustomerIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=1, max_length=32, description="E.164 or national")
    email: str | None = Field(default=None, max_length=320)
    locale: str | None = Field(default=None, max_length=16, description="en, es, es-MX, ...")
    timezone: str | None = Field(default=None, max_length=64, description="IANA name")


class LineIn(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=MAX_INT)


class OrderIn(BaseModel):
    number: str = Field(min_length=1, max_length=64)
    placed_at: AwareDatetime | None = None
    customer: CustomerIn
    lines: list[LineIn] = Field(min_length=1)


def router(settings: Settings, db: Database) -> APIRouter:
    routes = APIRouter(tags=["orders"], route_class=ApiRoute)

    @routes.post("/orders", status_code=201)
    async def post_order(body: OrderIn) -> JSONResponse:
        """Place an order: 201 when new, 200 for the same order again, 409 for other content."""
        customer = _customer_data(body.customer, settings)

        def place(session: Session) -> tuple[bool, dict[str, Any]]:
            who = find_by_phone(session, customer.phone or "")
            if who is None:
                who = upsert_customer(session, customer)
                session.flush()
            placed = place_order(
                session,
                number=body.number,
                customer=who,
                lines=[LineRequest(line.sku, line.quantity) for line in body.lines],
                placed_at=body.placed_at,
                policy=settings.policy(),
                now=utcnow(),
            )
            session.flush()
            order = queries.order_with_lines(session, placed.order.number)
            assert order is not None
            return placed.created, order_record(order)

        def write() -> tuple[bool, dict[str, Any]]:
            return db.transaction(place)

        with refusals(["body", "lines"]):
            created, view = await asyncio.to_thread(write)
        return JSONResponse(view, status_code=201 if created else 200)

    @routes.get("/orders/{number}")
    async def get_order(number: Number) -> dict[str, Any]:
        """One order with its lines (status, ETA, open offers)."""

        def read() -> dict[str, Any] | None:
            with db.read_session() as session:
                order = queries.order_with_lines(session, number)
                return order_record(order) if order is not None else None

        view = await asyncio.to_thread(read)
        if view is None:
            raise HTTPException(status_code=404, detail=f"order {number} does not exist")
        return view

    return routes


def _customer_data(body: CustomerIn, settings: Settings) -> CustomerData:
    """Check the customer's fields, each error at its own place in the body."""
    fields: dict[str, Any] = {}
    checks: list[tuple[str, Callable[[], str]]] = [
        ("phone", lambda: normalize_phone(body.phone, settings.default_phone_region)),
        ("locale", lambda: normalize_locale(body.locale or "", settings.default_locale)),
        ("timezone", lambda: check_timezone(body.timezone or "", settings.default_timezone)),
    ]
    for name, check in checks:
        try:
            fields[name] = check()
        except InvalidInput as exc:
            unprocessable(["body", "customer", name], str(exc))
    return CustomerData(name=body.name, email=body.email, **fields)
