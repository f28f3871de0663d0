"""``/agent/agents``: admins add, disable, enable and reset agents (``store.agents``).

Only admins see or post these pages: any other agent gets 403, before a form is read. Every
change is in the audit log under the admin's name. Disabling or resetting ends the agent's
sessions at once (their sign-ins are deleted, and a reset changes the password fingerprint
every request checks). Post, redirect, get, with a notice naming the agent; a refusal too, with
the reason and the typed name (``refused_forms``). Disabling asks first (``confirm``).
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.web.agent.auth import PATH, root_path
from bot.web.agent.confirm import needs_asking
from bot.web.agent.pages import Context
from bot.web.agent.refused_forms import forget, send_back, take_back
from bot.web.html import PAGE_HEADERS
from store import agents
from store.errors import StoreError

ADMIN_PATH = PATH + "/agents"
NOTICES = frozenset({"added", "disabled", "enabled", "reset", "made_admin", "admin_removed"})


@dataclass(frozen=True, slots=True)
class AgentRow:
    username: str
    is_admin: bool
    disabled: bool
    telegram_user_id: int | None


def router(ctx: Context) -> APIRouter:
    routes = APIRouter()

    @routes.get(ADMIN_PATH)
    async def agents_page(request: Request) -> Response:
        """Every agent, with the add form and each agent's disable / reset forms."""
        who = await ctx.gate.admin(request)
        rows = await asyncio.to_thread(_rows, ctx)
        notice = request.query_params.get("done")
        refused = await take_back(ctx.gate, request, who, ADMIN_PATH)
        return ctx.render(
            request,
            who,
            "agents.html",
            rows=rows,
            notice=notice if notice in NOTICES else None,
            subject=request.query_params.get("agent", "")[:64],
            error=refused.error if refused else None,
            typed=refused.fields if refused else {},
        )

    @routes.post(ADMIN_PATH)
    async def add(request: Request) -> Response:
        """A new agent (an admin if ticked)."""
        who, form = await ctx.gate.admin_form(request)
        username, password = _text(form.get("username")), _text(form.get("password"))
        make_admin = form.get("is_admin") == "on"
        now = ctx.clock()

        def create(session: Session) -> str:
            agent = agents.add_agent(
                session, username, password, now=now, actor=who.username, is_admin=make_admin
            )
            return agent.username

        try:
            name = await asyncio.to_thread(ctx.db.transaction, create)
        except StoreError as exc:  # post, redirect, get, with the name kept (never the password)
            typed = {"username": username, "is_admin": "on" if make_admin else ""}
            return await send_back(ctx.gate, request, who, ADMIN_PATH, typed, str(exc))
        return forget(ctx.gate, _back(request, "added", name))

    @routes.post(ADMIN_PATH + "/{username}/{change}")
    async def change(request: Request, username: str, change: str) -> Response:
        """Disable, enable, reset the password of, or grant or take the admin role from one
        agent."""
        who, form = await ctx.gate.admin_form(request)
        now, actor = ctx.clock(), who.username
        password = _text(form.get("password"))
        steps = {
            "disable": lambda s: agents.set_disabled(s, username, True, now=now, actor=actor),
            "enable": lambda s: agents.set_disabled(s, username, False, now=now, actor=actor),
            "reset": lambda s: agents.reset_password(s, username, password, now=now, actor=actor),
            "make-admin": lambda s: agents.set_admin(s, username, True, now=now, actor=actor),
            "remove-admin": lambda s: agents.set_admin(s, username, False, now=now, actor=actor),
        }
        step = steps.get(change)
        if step is None:
            raise HTTPException(404, headers=PAGE_HEADERS)
        if change == "disable":
            asked = needs_asking(request, form, "disable_agent", ADMIN_PATH, username[:64])
            if asked is not None:
                return asked
        try:
            await asyncio.to_thread(ctx.db.transaction, step)
        except StoreError as exc:
            return await send_back(ctx.gate, request, who, ADMIN_PATH, {}, str(exc))
        done = {"disable": "disabled", "enable": "enabled", "make-admin": "made_admin"}
        notice = done.get(change, "admin_removed" if change == "remove-admin" else "reset")
        return forget(ctx.gate, _back(request, notice, username))

    return routes


def _rows(ctx: Context) -> list[AgentRow]:
    with ctx.db.read_session() as session:
        return [
            AgentRow(a.username, a.is_admin, a.disabled, a.telegram_user_id)
            for a in agents.list_agents(session)
        ]


def _back(request: Request, notice: str, username: str) -> Response:
    location = f"{root_path(request)}{ADMIN_PATH}?done={notice}&agent={quote(username)}"
    return RedirectResponse(location, 303, headers=PAGE_HEADERS)


def _text(value: object) -> str:
    return value[:200] if isinstance(value, str) else ""
