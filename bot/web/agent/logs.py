"""Two read-only lists for the dashboard: the outbox (``/agent/outbox``, what
``backorder-bot outbox`` shows) and the audit log (``/agent/audit``: who did what, when).

Both filter with GET query fields (so a filtered list is a link an agent can share) and page
by id, newest first: ``?before=<id>`` shows the next page, stable while new rows arrive.
Filters that do not parse are shown as errors next to the form, and the list stays unfiltered
by them rather than empty. Any signed-in agent may read both; the outbox's "send again" is on
the customer's page, where the agent sees what the message was about.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bot.agents import log_views
from bot.web.agent.auth import PATH
from bot.web.agent.pages import Context
from store.models import Channel, OutboxStatus


def router(ctx: Context) -> APIRouter:
    routes = APIRouter()

    @routes.get(PATH + "/outbox")
    async def outbox_page(request: Request) -> Response:
        """Outgoing messages, filtered by status, channel, customer and date range."""
        who = await ctx.gate.agent(request)
        wanted = log_views.read_outbox_filter(dict(request.query_params), ctx.timezone)
        page = await asyncio.to_thread(_outbox, ctx, wanted)
        return ctx.render(
            request,
            who,
            "outbox.html",
            filt=wanted,
            page=page,
            statuses=[s.value for s in OutboxStatus],
            channels=[c.value for c in Channel],
            tz=ctx.timezone,
        )

    @routes.get(PATH + "/audit")
    async def audit_page(request: Request) -> Response:
        """Who did what, when; filtered by agent, action and customer."""
        who = await ctx.gate.agent(request)
        wanted = log_views.read_audit_filter(dict(request.query_params))
        page = await asyncio.to_thread(_audit, ctx, wanted)
        return ctx.render(request, who, "audit.html", filt=wanted, page=page, tz=ctx.timezone)

    return routes


def _outbox(ctx: Context, wanted: log_views.OutboxFilter) -> log_views.Page:
    with ctx.db.read_session() as session:
        return log_views.outbox_page(session, wanted)


def _audit(ctx: Context, wanted: log_views.AuditFilter) -> log_views.Page:
    with ctx.db.read_session() as session:
        return log_views.audit_page(session, wanted)
