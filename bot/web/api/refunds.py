"""``GET /api/refunds`` (what the shop owes for cancelled items) and ``POST
/api/refunds/{id}/settle`` (it was paid back, with the payment's reference)."""

import asyncio
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from bot.web.api.errors import MAX_INT, ApiRoute, refusals
from store.db import Database
from store.models import utcnow
from store.refunds import refund_record, refunds, settle_refund


class SettleIn(BaseModel):
    reference: str | None = Field(
        default=None, min_length=1, max_length=200, description="the payment provider's id"
    )
    by: str = Field(default="api", min_length=1, max_length=100, description="who paid it")


def router(db: Database) -> APIRouter:
    routes = APIRouter(tags=["refunds"], route_class=ApiRoute)

    @routes.get("/refunds")
    async def get_refunds(status: Literal["due", "all"] = "due") -> list[dict[str, Any]]:
        """Refunds promised to customers for cancelled items, oldest first."""

        def read() -> list[dict[str, Any]]:
            with db.read_session() as session:
                return [refund_record(r) for r in refunds(session, due_only=status == "due")]

        return await asyncio.to_thread(read)

    @routes.post("/refunds/{refund_id}/settle")
    async def post_settle(refund_id: int, body: SettleIn) -> dict[str, Any]:
        """Mark a refund paid. Again with the same reference: the same answer (a retry is safe)."""
        if not 0 < refund_id <= MAX_INT:
            refund_id = 0  # no such refund: answered 404 below

        def write() -> dict[str, Any]:
            with db.session() as session:
                refund = settle_refund(
                    session, refund_id, by=body.by, reference=body.reference, now=utcnow()
                )
                return refund_record(refund)

        with refusals(["body", "reference"]):
            return await asyncio.to_thread(write)

    return routes
