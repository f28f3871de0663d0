"""``GET /api/analytics/suppliers`` (the supplier scorecard) and ``GET /api/analytics/waiting``
(where waiting costs customers), as JSON; ``?format=csv`` answers the same figures as CSV.

The figures and their definitions are ``store.analytics``'.
"""

import asyncio
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response

from bot.web.api.errors import ApiRoute
from store.analytics import export
from store.analytics.suppliers import scorecards
from store.analytics.waiting import waiting_report
from store.db import Database

Format = Literal["json", "csv"]


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def router(db: Database, timezone: str) -> APIRouter:
    routes = APIRouter(tags=["analytics"], route_class=ApiRoute)

    @routes.get("/analytics/suppliers", response_model=None)
    async def get_suppliers(format: Format = "json") -> list[dict[str, Any]] | Response:
        """Per supplier: receipts against the first promised date, lateness, slips, open
        backorder units, and each receipt's promised and actual dates."""

        def read() -> list[dict[str, Any]] | Response:
            with db.read_session() as session:
                cards = scorecards(session, timezone)
            if format == "csv":
                return csv_response(export.to_csv(export.scorecard_rows(cards)), "suppliers.csv")
            return [export.scorecard_record(card) for card in cards]

        return await asyncio.to_thread(read)

    @routes.get("/analytics/waiting", response_model=None)
    async def get_waiting(format: Format = "json") -> dict[str, Any] | Response:
        """Time from backorder to allocation to shipment (p50/p90/max, histogram), choices by
        how long customers had waited, revenue kept and lost in minor units per currency, per
        SKU, supplier and week."""

        def read() -> dict[str, Any] | Response:
            with db.read_session() as session:
                found = waiting_report(session)
            if format == "csv":
                return csv_response(export.to_csv(export.waiting_rows(found)), "waiting.csv")
            return export.waiting_record(found)

        return await asyncio.to_thread(read)

    return routes
