"""``POST /api/broadcasts`` (dry run or send), ``GET /api/broadcasts/{id}``, and ``POST
/api/broadcasts/{id}/cancel``, over ``messaging.broadcasts.BroadcastService``.

A real send answers 202 as soon as the broadcast is recorded; its rows are queued in the
background (``GET`` shows how far). The same submit again (same ``idempotency_key``, or the
same content within ten minutes) answers 200 with the first broadcast and queues nothing new.
"""

import asyncio
import datetime as dt
from typing import Annotated, Any, Self

from fastapi import APIRouter, BackgroundTasks, Header, Path
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from bot.web.api.errors import MAX_INT, ApiRoute, refusals
from messaging.broadcasts import BroadcastRequest, BroadcastService
from store.audience import AudienceFilter
from store.models import BroadcastStatus, Channel, LineStatus

BroadcastId = Annotated[int, Path(ge=1, le=MAX_INT)]
# A century: further back than any order, and a date the arithmetic can still reach.
MAX_WAITING_DAYS = 36_500
ACTOR = "api"


class FiltersIn(BaseModel):
    sku: str | None = Field(default=None, max_length=64)
    supplier: str | None = Field(default=None, max_length=200)
    status: LineStatus = Field(
        default=LineStatus.BACKORDERED, description="the order line's status"
    )
    waiting_days_min: int | None = Field(default=None, ge=0, le=MAX_WAITING_DAYS)
    eta_before: dt.date | None = None
    eta_after: dt.date | None = None
    locale: str | None = Field(default=None, max_length=16, description="es also matches es-MX")
    channel: Channel | None = Field(default=None, description="send only on this channel")

    @model_validator(mode="after")
    def _eta_range(self) -> Self:
        if self.eta_before and self.eta_after and self.eta_after >= self.eta_before:
            raise ValueError("eta_after must be earlier than eta_before")
        return self


class BroadcastIn(BaseModel):
    filters: FiltersIn = Field(default_factory=FiltersIn)
    template: str | None = Field(default=None, max_length=64, description="a library message")
    text: str | None = Field(
        default=None,
        max_length=1000,
        description="the agent's text; placeholders: {{ name }}, {{ first_name }}, "
        "{{ order_number }}, {{ product }}, {{ sku }}, {{ eta }}, {{ coupon }}, {{ shop_name }}",
    )
    translations: dict[
        Annotated[str, Field(max_length=16)], Annotated[str, Field(max_length=1000)]
    ] = Field(
        default_factory=dict,
        description='the text in other languages, by locale (e.g. {"es": "Hola ..."}): '
        "customers of that language get it instead of text; same placeholders",
    )
    dry_run: bool = False
    send_at: AwareDatetime | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_content(self) -> Self:
        if (self.template is None) == (self.text is None):
            raise ValueError("give either template or text")
        return self

    def request(self, key: str | None) -> BroadcastRequest:
        return BroadcastRequest(
            filters=AudienceFilter(**self.filters.model_dump()),
            template=self.template,
            text=self.text,
            translations=self.translations,
            send_at=self.send_at,
            idempotency_key=self.idempotency_key or key,
            created_by=ACTOR,
        )


def router(service: BroadcastService) -> APIRouter:
    routes = APIRouter(tags=["broadcasts"], route_class=ApiRoute)

    @routes.post("/broadcasts", status_code=202)
    async def post_broadcast(
        body: BroadcastIn,
        background: BackgroundTasks,
        idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
    ) -> JSONResponse:
        """Dry run (200: counts, skipped by reason, samples), or send (202 new, 200 repeat)."""
        with refusals():
            request = body.request(idempotency_key)
            if body.dry_run:
                preview = await asyncio.to_thread(service.preview, request)
                return JSONResponse({"dry_run": True, **preview.to_json()})
            info, created = await asyncio.to_thread(service.create, request)
        if info.status == BroadcastStatus.QUEUEING:
            # Also for a repeat: if the first request's process died, this resumes it.
            background.add_task(service.queue, info.id)
        progress = await asyncio.to_thread(service.progress, info.id)
        return JSONResponse(
            {"created": created, **progress.to_json()}, status_code=202 if created else 200
        )

    @routes.get("/broadcasts/{broadcast_id}")
    async def get_broadcast(broadcast_id: BroadcastId) -> dict[str, Any]:
        """The broadcast with its progress: queued, pending, sent, delivered, failed, skipped."""
        with refusals():
            progress = await asyncio.to_thread(service.progress, broadcast_id)
        return progress.to_json()

    @routes.post("/broadcasts/{broadcast_id}/cancel")
    async def cancel_broadcast(broadcast_id: BroadcastId) -> dict[str, Any]:
        """Stop what has not been handed to a provider; 409 when it has already finished."""
        with refusals():
            progress = await asyncio.to_thread(service.cancel, broadcast_id, ACTOR)
        return progress.to_json()

    return routes
