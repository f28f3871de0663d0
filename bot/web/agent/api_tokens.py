"""``/agent/api-tokens``: admins issue and revoke agents' own API tokens (``store.api_tokens``).

An API action with an agent's token is audited under that agent's username. A new token is
shown once, on the page the issue form redirects to: it travels in a short-lived HttpOnly cookie
(never in a URL or a log, never stored in clear server-side), cleared by that page. Revoking
asks first (``confirm``). A refused issue (no label, an unknown agent) is post-redirect-get.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.web.agent.auth import PATH, root_path
from bot.web.agent.confirm import needs_asking
from bot.web.agent.pages import Context
from bot.web.agent.refused_forms import forget, send_back, take_back
from bot.web.html import PAGE_HEADERS
from store import agents, api_tokens
from store.errors import StoreError

TOKENS_PATH = PATH + "/api-tokens"
NEW_TOKEN_COOKIE = "backorder_agent_new_token"  # noqa: S105 (a cookie name)
NEW_TOKEN_TTL = dt.timedelta(minutes=2)


def router(ctx: Context) -> APIRouter:
    routes = APIRouter()

    @routes.get(TOKENS_PATH)
    async def tokens_page(request: Request) -> Response:
        """Every token (its first characters), the issue form, and a new token once."""
        who = await ctx.gate.admin(request)
        views, names = await asyncio.to_thread(_read, ctx)
        refused = await take_back(ctx.gate, request, who, TOKENS_PATH)
        new_token = request.cookies.get(NEW_TOKEN_COOKIE, "")
        new_token = new_token if new_token.startswith(api_tokens.TOKEN_PREFIX) else ""
        response = ctx.render(
            request, who, "api_tokens.html", tokens=views, agents=names, new_token=new_token,
            revoked=request.query_params.get("done") == "revoked",
            error=refused.error if refused else None,
            typed=refused.fields if refused else {},
        )  # fmt: skip
        if new_token:
            ctx.gate.clear_cookie(response, NEW_TOKEN_COOKIE)
        return response

    @routes.post(TOKENS_PATH)
    async def issue(request: Request) -> Response:
        """A new token for an agent, shown once on the page this redirects to."""
        who, form = await ctx.gate.admin_form(request)
        username, label = _text(form.get("agent")), _text(form.get("label"))
        now = ctx.clock()

        def work(session: Session) -> str:
            return api_tokens.issue(session, username, label, now=now, actor=who.username).token

        try:
            token = await asyncio.to_thread(ctx.db.transaction, work)
        except StoreError as exc:
            typed = {"agent": username, "label": label}
            return await send_back(ctx.gate, request, who, TOKENS_PATH, typed, str(exc))
        response = RedirectResponse(root_path(request) + TOKENS_PATH, 303, headers=PAGE_HEADERS)
        ctx.gate.set_cookie(response, NEW_TOKEN_COOKIE, token, NEW_TOKEN_TTL)
        return forget(ctx.gate, response)

    @routes.post(TOKENS_PATH + "/{token_id}/revoke")
    async def revoke(request: Request, token_id: str) -> Response:
        """Revoke a token at once (after the confirmation step; again: nothing changes)."""
        who, form = await ctx.gate.admin_form(request)
        number = int(token_id) if token_id.isascii() and token_id.isdigit() else 0
        asked = needs_asking(request, form, "revoke_token", TOKENS_PATH, f"token {number}")
        if asked is not None:
            return asked
        now = ctx.clock()
        try:
            await asyncio.to_thread(
                ctx.db.transaction,
                lambda s: api_tokens.revoke(s, number, now=now, actor=who.username),
            )
        except StoreError as exc:
            return await send_back(ctx.gate, request, who, TOKENS_PATH, {}, str(exc))
        location = f"{root_path(request)}{TOKENS_PATH}?done=revoked"
        return forget(ctx.gate, RedirectResponse(location, 303, headers=PAGE_HEADERS))

    return routes


def _read(ctx: Context) -> tuple[list[api_tokens.TokenView], list[str]]:
    with ctx.db.read_session() as session:
        names = [a.username for a in agents.list_agents(session) if not a.disabled]
        return api_tokens.list_tokens(session), names


def _text(value: object) -> str:
    return value[:200] if isinstance(value, str) else ""
