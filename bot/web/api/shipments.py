"""``POST /api/orders/{number}/shipments``: ship an order's reserved units (``store.shipments``).

An empty body ships every reserved, unshipped unit of the order; ``sku`` (and ``quantity``)
ship part of one line. A retried request with the same ``Idempotency-Key`` header (or
``idempotency_key`` in the body) answers 200 with the shipment it made the first time and ships
nothing again; the same key with a different request is a 409. A request that cannot ship as
asked is a 422 naming the field, and nothing is written.
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bot.order_views import shipment_record
from bot.web.api.errors import MAX_INT, ApiRoute, refusals, unprocessable
from store.db import Database
from store.errors import InvalidInput
from store.models import utcnow
from store.shipments import MAX_TEXT, MAX_URL, ship

Number = Annotated[str, Path(min_length=1, max_length=64)]


class ShipmentIn(BaseModel):
    sku: str | None = Field(default=None, min_length=1, max_length=64)
    quantity: int | None = Field(
        default=None, gt=0, le=MAX_INT, description="units of sku; all reserved ones if absent"
    )
    carrier: str | None = Field(default=None, max_length=MAX_TEXT)
    tracking: str | None = Field(default=None, max_length=MAX_TEXT, description="number")
    tracking_url: str | None = Field(default=None, max_length=MAX_URL, description="http(s)")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=100)


def router(db: Database) -> APIRouter:
    routes = APIRouter(tags=["orders"], route_class=ApiRoute)

    @routes.post("/orders/{number}/shipments", status_code=201)
    async def post_shipment(
        number: Number,
        body: Annotated[ShipmentIn | None, Body()] = None,
        idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
    ) -> JSONResponse:
        """Ship reserved units: 201 new, 200 the same request again, 404 unknown order, 422."""
        request = body or ShipmentIn()
        key = request.idempotency_key or idempotency_key

        def write() -> tuple[bool, dict[str, Any]]:
            with db.session() as session:
                result = ship(
                    session,
                    number,
                    sku=request.sku,
                    quantity=request.quantity,
                    carrier=request.carrier,
                    tracking=request.tracking,
                    tracking_url=request.tracking_url,
                    now=utcnow(),
                    idempotency_key=key,
                )
                session.flush()
                order = {"number": number, "status": result.shipment.order.status.value}
                return result.created, {**shipment_record(result.shipment), "order": order}

        with refusals():
            try:
                created, view = await asyncio.to_thread(write)
            except InvalidInput as exc:
                if exc.field != "number":
                    raise
                unprocessable(["path", "number"], str(exc))
        return JSONResponse(view, status_code=201 if created else 200)

    return routes
