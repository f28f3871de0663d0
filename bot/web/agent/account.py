"""``/agent/account``: an agent changes their own password (the current one required).

Every session of theirs ends (``store.agents.change_own_password``: a stolen cookie dies with
the old password), and this browser is signed in again with a fresh session, so the agent
carries on. A refused change (a wrong current password, a short or repeated new one, two new
ones that differ) is post-redirect-get with the reason (``refused_forms``); no password is ever
kept or shown again.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.web.agent.auth import PATH, root_path
from bot.web.agent.pages import Context
from bot.web.agent.refused_forms import forget, send_back, take_back
from bot.web.agent.session import SESSION_COOKIE
from bot.web.html import PAGE_HEADERS
from store import agents
from store.errors import StoreError

ACCOUNT_PATH = PATH + "/account"


def router(ctx: Context) -> APIRouter:
    routes = APIRouter()

    @routes.get(ACCOUNT_PATH)
    async def account(request: Request) -> Response:
        """The change-password form."""
        who = await ctx.gate.agent(request)
        refused = await take_back(ctx.gate, request, who, ACCOUNT_PATH)
        changed = request.query_params.get("done") == "password"
        return ctx.render(
            request, who, "account.html", changed=changed,
            error=refused.error if refused else None,
        )  # fmt: skip

    @routes.post(ACCOUNT_PATH + "/password")
    async def change_password(request: Request) -> Response:
        """Check the current password, set the new one, sign this browser in again."""
        who, form = await ctx.gate.form(request)
        current, new, again = (_text(form.get(n)) for n in ("current", "new", "again"))
        if new != again:
            error = "the two new passwords differ"
            return await send_back(ctx.gate, request, who, ACCOUNT_PATH, {}, error)
        now = ctx.clock()

        def change(session: Session) -> str:
            agent = agents.change_own_password(session, who.username, current, new, now=now)
            return agent.password_hash

        try:
            password_hash = await asyncio.to_thread(ctx.db.transaction, change)
        except StoreError as exc:
            return await send_back(ctx.gate, request, who, ACCOUNT_PATH, {}, str(exc))
        cookie = ctx.gate.signer.issue(who.username, password_hash, ctx.clock())
        await asyncio.to_thread(ctx.gate.record_sign_in, cookie)
        location = f"{root_path(request)}{ACCOUNT_PATH}?done=password"
        response = RedirectResponse(location, 303, headers=PAGE_HEADERS)
        ctx.gate.set_cookie(response, SESSION_COOKIE, cookie, ctx.gate.signer.ttl)
        return forget(ctx.gate, response)

    return routes


def _text(value: object) -> str:
    return value[:200] if isinstance(value, str) else ""
