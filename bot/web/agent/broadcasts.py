"""The broadcast composer, its preview and confirm steps, and a broadcast's progress page.

compose (``GET /agent/broadcasts/new``) -> preview (``POST .../preview``: a dry run, nothing
written) -> confirm (``POST /agent/broadcasts``: recorded with the agent's username as
``created_by``, queued in the background) -> progress (``GET /agent/broadcasts/{id}``, which a
small script refreshes from ``.../progress``). Everything goes through the one
``BroadcastService`` the API and the CLI use, so the same guarantees hold: one message per
customer per broadcast, throttled, opt-outs and quiet hours checked at send time, audited.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
import contextlib
import datetime as dt
import functools
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from bot.web.agent import audience_notes, compose
from bot.web.agent.auth import PATH, SignedIn, root_path
from bot.web.agent.confirm import needs_asking
from bot.web.agent.pages import Context
from bot.web.html import PAGE_HEADERS
from messaging.broadcast_content import ContentError
from messaging.broadcasts import BroadcastProgress, BroadcastRequest, BroadcastService
from store import agent_drafts
from store.errors import Conflict, InvalidInput, NotFound
from store.models import BroadcastStatus

BroadcastId = Annotated[int, Path(ge=1, le=2**31 - 1)]
RECENT = 20
# How long a preview's page can be shown again (Back, reload) before it has to be redone.
PREVIEW_TTL = dt.timedelta(hours=2)


def router(ctx: Context, service: BroadcastService) -> APIRouter:
    routes = APIRouter()

    def composer(
        request: Request,
        who: SignedIn,
        values: dict[str, str],
        errors: dict[str, str],
        status: int,
        *,
        restored: bool = False,
    ) -> Response:
        recent = service.recent(RECENT)
        errors = {name: compose.humane(message) for name, message in errors.items()}
        return ctx.render(
            request,
            who,
            "compose.html",
            status,
            values=values,
            errors=errors,
            error_summary=compose.summary(errors),
            restored=restored,
            recent=recent,
            timezone=ctx.timezone,
            **compose.choices(),
        )

    @routes.get(PATH + "/broadcasts/new")
    async def new(request: Request) -> Response:
        """The composer: filters, then a library template or the agent's own text."""
        who = await ctx.gate.agent(request)
        sku = request.query_params.get("sku", "")[:64]
        values = compose.blank(sku=sku)
        kept = await ctx.gate.drafts.restore(request, PATH + "/broadcasts/new")
        if kept is not None:  # typed before the session ended: back in the form, not sent
            values.update({k: str(v) for k, v in kept.items() if k in values})
        response = await asyncio.to_thread(
            functools.partial(composer, restored=kept is not None), request, who, values, {}, 200
        )
        if kept is not None:
            ctx.gate.drafts.clear(response)
        return response

    @routes.post(PATH + "/broadcasts/preview")
    async def preview(request: Request) -> Response:
        """Check the form, keep it, and show the preview as a page of its own (post, redirect,
        get: Back from the progress page or a reload never asks to post the form again)."""
        who, form = await ctx.gate.form(request)
        composed = compose.read(form, who.username, timezone=ctx.timezone, now=ctx.clock())
        if composed.request is not None:
            composed.errors.update(await asyncio.to_thread(_unknown_names, ctx, composed.request))
        if composed.request is None or composed.errors:
            return await asyncio.to_thread(
                composer, request, who, composed.values, composed.errors, 422
            )
        # The confirm form's idempotency key is made once, here: every showing of this
        # preview confirms the same broadcast.
        fields = {**composed.values, "key": compose.new_key()}
        token = await asyncio.to_thread(_keep_preview, ctx, who.username, fields)
        location = f"{root_path(request)}{PATH}/broadcasts/preview/{token}"
        return RedirectResponse(location, 303, headers=PAGE_HEADERS)

    @routes.get(PATH + "/broadcasts/preview/{token}")
    async def preview_page(request: Request, token: str) -> Response:
        """A dry run: counts by channel and locale, skipped by reason, one sample each."""
        who = await ctx.gate.agent(request)
        fields = await asyncio.to_thread(_find_preview, ctx, who.username, token)
        if fields is None:
            errors = {"text": "that preview has expired; preview the broadcast again"}
            return await asyncio.to_thread(composer, request, who, compose.blank(), errors, 404)
        key = str(fields.pop("key", ""))
        form = FormData([(k, str(v)) for k, v in fields.items()])
        composed = compose.read(form, who.username, timezone=ctx.timezone, now=ctx.clock())
        if composed.request is None:  # e.g. its send time has passed since
            return await asyncio.to_thread(
                composer, request, who, composed.values, composed.errors, 422
            )
        try:
            result = await asyncio.to_thread(service.preview, composed.request)
        except ContentError as exc:
            errors = {exc.field: str(exc)}
            return await asyncio.to_thread(composer, request, who, composed.values, errors, 422)
        return ctx.render(
            request,
            who,
            "preview.html",
            values=composed.values,
            preview=result,
            warnings=[
                *result.warnings,
                *audience_notes.language_warnings(composed.request, result.tally),
            ],
            key=key,
            timezone=ctx.timezone,
        )

    @routes.post(PATH + "/broadcasts")
    async def confirm(request: Request, background: BackgroundTasks) -> Response:
        """Record the previewed broadcast once (a second submit finds the first), queue it."""
        who, form = await ctx.gate.form(request)
        key = form.get("key")
        if not isinstance(key, str) or not (0 < len(key) <= 32):
            errors = {"text": "preview the broadcast first"}
            values = compose.read(form, who.username, timezone=ctx.timezone).values
            return await asyncio.to_thread(composer, request, who, values, errors, 422)
        composed = compose.read(form, who.username, key, timezone=ctx.timezone, now=ctx.clock())
        if composed.request is None:
            return await asyncio.to_thread(
                composer, request, who, composed.values, composed.errors, 422
            )
        try:
            info, _created = await asyncio.to_thread(service.create, composed.request)
        except ContentError as exc:
            errors = {exc.field: str(exc)}
            return await asyncio.to_thread(composer, request, who, composed.values, errors, 422)
        except (Conflict, InvalidInput) as exc:
            errors = {"text": str(exc)}
            return await asyncio.to_thread(composer, request, who, composed.values, errors, 409)
        if info.status == BroadcastStatus.QUEUEING:
            # Also for a repeat: if the first submit's process died mid-queue, this resumes it.
            background.add_task(service.queue, info.id)
        location = f"{root_path(request)}{PATH}/broadcasts/{info.id}"
        return RedirectResponse(location, 303, headers=PAGE_HEADERS)

    @routes.get(PATH + "/broadcasts/{broadcast_id}")
    async def progress_page(request: Request, broadcast_id: BroadcastId) -> Response:
        """Progress and delivery results; refreshed by ``progress.js``."""
        who = await ctx.gate.agent(request)
        try:
            found = await asyncio.to_thread(service.progress, broadcast_id)
        except NotFound:
            return ctx.render(request, who, "not_found.html", 404, sku=None)
        return ctx.render(
            request,
            who,
            "progress.html",
            broadcast=found.broadcast,
            progress=_numbers(found),
            timezone=ctx.timezone,
        )

    @routes.get(PATH + "/broadcasts/{broadcast_id}/progress")
    async def progress_json(request: Request, broadcast_id: BroadcastId) -> Response:
        """The numbers the progress page shows, for its script."""
        await ctx.gate.agent(request)
        try:
            found = await asyncio.to_thread(service.progress, broadcast_id)
        except NotFound:
            return JSONResponse({"detail": "no such broadcast"}, 404, headers=PAGE_HEADERS)
        return JSONResponse(
            {"status": found.broadcast.status.value, **_numbers(found)}, headers=PAGE_HEADERS
        )

    @routes.post(PATH + "/broadcasts/{broadcast_id}/cancel")
    async def cancel(request: Request, broadcast_id: BroadcastId) -> Response:
        """Stop what has not been handed to a provider yet (a finished one stays as it is)."""
        who, form = await ctx.gate.form(request)
        back = f"{PATH}/broadcasts/{broadcast_id}"
        asked = needs_asking(request, form, "cancel_broadcast", back, f"broadcast {broadcast_id}")
        if asked is not None:
            return asked
        # A finished or unknown broadcast: the progress page shows there was nothing to cancel.
        with contextlib.suppress(Conflict, NotFound):
            await asyncio.to_thread(service.cancel, broadcast_id, who.username)
        location = f"{root_path(request)}{PATH}/broadcasts/{broadcast_id}"
        return RedirectResponse(location, 303, headers=PAGE_HEADERS)

    return routes


def _keep_preview(ctx: Context, username: str, fields: dict[str, str]) -> str:
    with ctx.db.session() as session:
        return agent_drafts.keep(
            session,
            agent_drafts.PREVIEW,
            path=PATH + "/broadcasts/preview",
            fields=fields,
            now=ctx.clock(),
            ttl=PREVIEW_TTL,
            username=username,
        )


def _find_preview(ctx: Context, username: str, token: str) -> dict[str, Any] | None:
    with ctx.db.read_session() as session:
        draft = agent_drafts.find(session, token, agent_drafts.PREVIEW, ctx.clock())
        if draft is None or draft.username != username:  # another agent's preview: not found
            return None
        return dict(draft.fields)


def _unknown_names(ctx: Context, request: BroadcastRequest) -> dict[str, str]:
    with ctx.db.read_session() as session:
        return audience_notes.unknown_names(session, request)


def _numbers(found: BroadcastProgress) -> dict[str, Any]:
    """The progress counts (``BroadcastProgress.to_json``'s), for the page and its script."""
    numbers: dict[str, Any] = found.to_json()["progress"]
    numbers["finished"] = found.broadcast.status in (
        BroadcastStatus.DONE,
        BroadcastStatus.CANCELLED,
    )
    # Handed to a provider (whatever became of it after), as opposed to still waiting or skipped.
    numbers["handed_over"] = sum(
        numbers[name] for name in ("sent", "delivered", "undelivered", "failed", "unknown")
    )
    return numbers
