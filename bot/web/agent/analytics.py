"""``/agent/analytics``: the supplier scorecard and where waiting costs customers, with
server-rendered SVG charts, and the same figures as CSV (``/agent/analytics/waiting.csv``,
``/agent/analytics/suppliers.csv``) for a signed-in agent."""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bot.agents.analytics_view import AnalyticsPage, analytics_page
from bot.web.agent.auth import PATH
from bot.web.agent.pages import Context
from bot.web.html import PAGE_HEADERS
from store.analytics import export
from store.analytics.suppliers import scorecards
from store.analytics.waiting import waiting_report


def router(ctx: Context) -> APIRouter:
    routes = APIRouter()

    @routes.get(PATH + "/analytics")
    async def analytics(request: Request) -> Response:
        """Scorecard, time on backorder, choices by wait, revenue kept and lost."""
        who = await ctx.gate.agent(request)
        content = await asyncio.to_thread(_page, ctx)
        return ctx.render(request, who, "analytics.html", page=content)

    @routes.get(PATH + "/analytics/waiting.csv")
    async def waiting_csv(request: Request) -> Response:
        await ctx.gate.agent(request)
        text = await asyncio.to_thread(_waiting_csv, ctx)
        return _csv(text, "waiting.csv")

    @routes.get(PATH + "/analytics/suppliers.csv")
    async def suppliers_csv(request: Request) -> Response:
        await ctx.gate.agent(request)
        text = await asyncio.to_thread(_suppliers_csv, ctx)
        return _csv(text, "suppliers.csv")

    return routes


def _csv(text: str, filename: str) -> Response:
    headers = {**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


def _page(ctx: Context) -> AnalyticsPage:
    with ctx.db.read_session() as session:
        cards = scorecards(session, ctx.policy.timezone)
        report = waiting_report(session)
    return analytics_page(cards, report)


def _waiting_csv(ctx: Context) -> str:
    with ctx.db.read_session() as session:
        return export.to_csv(export.waiting_rows(waiting_report(session)))


def _suppliers_csv(ctx: Context) -> str:
    with ctx.db.read_session() as session:
        return export.to_csv(export.scorecard_rows(scorecards(session, ctx.policy.timezone)))
