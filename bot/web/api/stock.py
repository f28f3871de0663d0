"""``POST /api/stock/receipts`` (goods in, oldest waiting orders first) and ``GET
/api/backorders`` (waiting lines grouped by SKU)."""

import asyncio
import dataclasses
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from bot.web.api.errors import MAX_INT, ApiRoute, refusals
from store import queries
from store.db import Database
from store.models import utcnow
from store.stock import receive_stock


class ReceiptIn(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=MAX_INT)
    reference: str | None = Field(
        default=None, max_length=64, description="delivery reference: a receipt counts once"
    )


def router(db: Database) -> APIRouter:
    routes = APIRouter(tags=["stock"], route_class=ApiRoute)

    @routes.post("/stock/receipts", status_code=201)
    async def post_receipt(body: ReceiptIn) -> JSONResponse:
        """Record received stock. 201 when recorded; 200 when this reference was already in."""

        def receive(session: Session) -> tuple[bool, dict[str, Any]]:
            result = receive_stock(
                session, body.sku, body.quantity, now=utcnow(), reference=body.reference
            )
            return result.duplicate, {
                "sku": body.sku,
                "quantity": body.quantity,
                "reference": body.reference,
                "duplicate": result.duplicate,
                "allocated": [
                    {"order_number": a.line.order.number, "quantity": a.quantity}
                    for a in result.allocations
                ],
            }

        def write() -> tuple[bool, dict[str, Any]]:
            return db.transaction(receive)

        with refusals(["body", "quantity"]):
            duplicate, view = await asyncio.to_thread(write)
        return JSONResponse(view, status_code=200 if duplicate else 201)

    @routes.get("/backorders")
    async def get_backorders(sku: str | None = None) -> list[dict[str, Any]]:
        """Waiting lines grouped by SKU, longest wait first."""

        def read() -> list[dict[str, Any]]:
            with db.read_session() as session:
                return [
                    {
                        **dataclasses.asdict(g.summary),
                        "lines": [dataclasses.asdict(x) for x in g.lines],
                    }
                    for g in queries.backorders(session, sku)
                ]

        return await asyncio.to_thread(read)

    return routes
