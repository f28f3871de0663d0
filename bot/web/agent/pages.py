"""The board (``/agent``), a SKU's page (``/agent/sku/{sku}``) and its edit-ETA form.

The ETA form makes the same ``store.eta.set_eta`` call as ``POST /api/products/{sku}/eta``
(source ``dashboard:<agent>``), so the waiting customers are told exactly as they would be
from the API or the CLI. It has two steps: a GET that says how many customers the date would
tell (``bot.web.agent.eta_check``), then the POST that saves it. POST, redirect, GET:
reloading the page never posts twice.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.agents import views
from bot.web.agent import listing
from bot.web.agent.auth import PATH, Gate, SignedIn, root_path
from bot.web.agent.eta_check import WouldTell, would_tell
from bot.web.html import PAGE_HEADERS, WEB_TEMPLATES_DIR, page
from store.db import Database
from store.errors import InvalidInput, NotFound
from store.eta import set_eta, shop_today
from store.policy import Policy
from store.supplier_requests import Silent, not_answering

_STATIC = {
    "agent.css": "text/css; charset=utf-8",
    "progress.js": "text/javascript; charset=utf-8",
}
_NOTICES = frozenset({"eta_saved"})


@dataclass(frozen=True, slots=True)
class Context:
    """What every page of the dashboard needs."""

    db: Database
    gate: Gate
    shop_name: str
    policy: Policy
    clock: Callable[[], dt.datetime]
    # The shop's zone (DEFAULT_TIMEZONE): a broadcast's send time is typed and shown in it.
    timezone: ZoneInfo
    # The navigation's inbox badges for an agent (open, mine); None: no badges.
    inbox_counts: Callable[[str], dict[str, int]] | None = None

    def render(
        self, request: Request, who: SignedIn, template: str, status: int = 200, **extra: object
    ) -> Response:
        return page(
            f"agent/{template}",
            status,
            shop_name=self.shop_name,
            base=root_path(request) + PATH,
            username=who.username,
            csrf=who.csrf,
            inbox_counts=self.inbox_counts(who.username) if self.inbox_counts else None,
            is_admin=who.is_admin,
            **extra,
        )


def router(ctx: Context) -> APIRouter:
    routes = APIRouter()

    @routes.get(PATH + "/static/{name}")
    async def static(name: str) -> Response:
        """The dashboard's style sheet and its one script (files: the CSP forbids inline)."""
        if name not in _STATIC:
            raise HTTPException(404)
        body = (WEB_TEMPLATES_DIR / "agent" / name).read_bytes()
        return Response(body, media_type=_STATIC[name], headers=PAGE_HEADERS)

    @routes.get(PATH)
    async def board(request: Request) -> Response:
        """Every SKU with waiting customers, and how customers answered their offers."""
        who = await ctx.gate.agent(request)
        rows, outcomes, silent = await asyncio.to_thread(_board, ctx)
        wanted = listing.BoardFilter.of(request.query_params)
        kept = wanted.apply(rows, shop_today(ctx.clock(), ctx.policy))
        return ctx.render(
            request,
            who,
            "board.html",
            silent=silent,
            any_rows=bool(rows),
            rows=listing.page_of(kept, request.query_params.get("page")),
            wanted=wanted,
            eta_filters=listing.ETA_FILTERS,
            suppliers=listing.suppliers(rows),
            bars=views.chart(outcomes),
            total_outcomes=sum(outcomes.values()),
            chart_width=views.CHART_WIDTH,
            bar_height=views.BAR_HEIGHT,
        )

    @routes.get(PATH + "/sku/{sku}")
    async def sku_page(request: Request, sku: str) -> Response:
        """Who waits for this SKU, what they chose so far, and the edit-ETA form."""
        who = await ctx.gate.agent(request)
        found = await asyncio.to_thread(_sku, ctx, sku)
        if found is None:
            return ctx.render(request, who, "not_found.html", 404, sku=sku)
        notice = request.query_params.get("done")
        kept = await ctx.gate.drafts.restore(request, f"{PATH}/sku/{sku}")
        response = ctx.render(
            request,
            who,
            "sku.html",
            product=found,
            lines=listing.page_of(found.lines, request.query_params.get("page")),
            notice="restored" if kept is not None else notice if notice in _NOTICES else None,
            error=None,
            error_message=None,
            check=None,
            kept={k: str(v) for k, v in (kept or {}).items() if k in ("eta", "reason")},
        )
        if kept is not None:
            ctx.gate.drafts.clear(response)
        return response

    @routes.get(PATH + "/sku/{sku}/eta")
    async def check_eta(request: Request, sku: str) -> Response:
        """The form's first step: how many customers the new date would tell, then confirm.
        A GET that writes nothing, so Back and reload are harmless."""
        who = await ctx.gate.agent(request)
        eta = parse_date(request.query_params.get("eta", ""))
        reason = request.query_params.get("reason", "")[:500]
        if eta is None:
            return await _form_error(request, who, sku, "bad_date")
        try:
            told = await asyncio.to_thread(
                would_tell, ctx.db, sku, eta, policy=ctx.policy, now=ctx.clock()
            )
        except NotFound:
            return ctx.render(request, who, "not_found.html", 404, sku=sku)
        except InvalidInput as exc:
            return await _form_error(request, who, sku, "refused", str(exc))
        found = await asyncio.to_thread(_sku, ctx, sku)
        if found is None:
            return ctx.render(request, who, "not_found.html", 404, sku=sku)
        return ctx.render(
            request,
            who,
            "sku.html",
            product=found,
            lines=listing.page_of(found.lines, None),
            notice=None,
            error=None,
            error_message=None,
            check=EtaCheck(eta, reason, told),
            kept={},
        )

    @routes.post(PATH + "/sku/{sku}/eta")
    async def edit_eta(request: Request, sku: str) -> Response:
        """Set the supplier's new date; the waiting customers are told if it moved enough."""
        who, form = await ctx.gate.form(request)
        raw = form.get("eta")
        reason = form.get("reason")
        eta = parse_date(raw if isinstance(raw, str) else "")
        if eta is None:
            return await _form_error(request, who, sku, "bad_date")
        note = reason.strip()[:500] or None if isinstance(reason, str) else None
        try:
            await asyncio.to_thread(_set_eta, ctx, who, sku, eta, note)
        except NotFound:
            return ctx.render(request, who, "not_found.html", 404, sku=sku)
        except InvalidInput as exc:  # past or years away: shown on the form, nothing written
            return await _form_error(request, who, sku, "refused", str(exc))
        location = f"{root_path(request)}{PATH}/sku/{quote(sku, safe='')}?done=eta_saved"
        return RedirectResponse(location, 303, headers=PAGE_HEADERS)

    async def _form_error(
        request: Request, who: SignedIn, sku: str, error: str, message: str | None = None
    ) -> Response:
        found = await asyncio.to_thread(_sku, ctx, sku)
        if found is None:
            return ctx.render(request, who, "not_found.html", 404, sku=sku)
        return ctx.render(
            request,
            who,
            "sku.html",
            422,
            product=found,
            lines=listing.page_of(found.lines, None),
            notice=None,
            error=error,
            error_message=message,
            check=None,
            kept={},
        )

    return routes


@dataclass(frozen=True, slots=True)
class EtaCheck:
    """The confirm step of the ETA form: the date typed and who saving it would tell."""

    eta: dt.date
    reason: str
    told: WouldTell


def parse_date(raw: str) -> dt.date | None:
    """What a date input posts (YYYY-MM-DD), or None: empty when only part was filled in."""
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        return None


def _board(ctx: Context) -> tuple[list[views.BoardRow], dict[str, int], list[Silent]]:
    with ctx.db.read_session() as session:
        now = ctx.clock()
        return (
            views.board(session, now),
            views.offer_outcomes(session, now),
            not_answering(session, now),
        )


def _sku(ctx: Context, sku: str) -> views.SkuPage | None:
    with ctx.db.read_session() as session:
        return views.sku_page(session, sku, ctx.clock())


def _set_eta(ctx: Context, who: SignedIn, sku: str, eta: dt.date, reason: str | None) -> None:
    ctx.db.transaction(
        lambda session: set_eta(
            session,
            sku,
            eta,
            source=f"dashboard:{who.username}"[:32],
            reason=reason,
            policy=ctx.policy,
            now=ctx.clock(),
        )
    )
