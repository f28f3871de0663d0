"""Work kept across a sign-in, and the page each form goes back to.

A form posted after the session ended (or with the CSRF token of an older session) is not
refused and lost: its fields are kept server-side (``store.agent_drafts``, keyed by a random
token in an HttpOnly cookie, never in a URL or a log), the agent is sent to sign in, and then
back to the page the form was on, filled in again, with a note that nothing was sent. A page
opened without a session goes back to itself after sign-in the same way (its path only, in a
cookie). Nothing is submitted on the agent's behalf: they look, and press the button again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from bot.web.sliding_window import SlidingWindow
from store import agent_drafts

if TYPE_CHECKING:
    from bot.web.agent.auth import Gate

STASH_COOKIE = "backorder_agent_stash"
NEXT_COOKIE = "backorder_agent_next"
STASH_TTL = dt.timedelta(minutes=30)
# A stash is an unauthenticated write: bounded in size, and per client address in rate.
MAX_FIELDS = 40
MAX_FIELD_CHARS = 4000
STASHES_PER_MINUTE = 20
_SKU_FORM = re.compile(r"^/agent/sku/([^/]+)/eta$")
_BROADCAST_FORM = re.compile(r"^/agent/broadcasts/(\d+)/cancel$")
_SAFE_PATH = re.compile(r"^/agent(/[A-Za-z0-9._~%/-]*)?(\?[^\s#]*)?$")


def return_page(form_path: str) -> str:
    """The page (under ``/agent``) a form posted to ``form_path`` was filled in on."""
    if form_path in ("/agent/broadcasts/preview", "/agent/broadcasts"):
        return "/agent/broadcasts/new"
    if found := _SKU_FORM.match(form_path):
        return f"/agent/sku/{found.group(1)}"
    if found := _BROADCAST_FORM.match(form_path):
        return f"/agent/broadcasts/{found.group(1)}"
    return "/agent"


def kept_fields(form: FormData) -> dict[str, str]:
    """The form's text fields, bounded, without its CSRF token (a new one comes with the page)."""
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if name in ("csrf", "key") or not isinstance(value, str) or len(fields) >= MAX_FIELDS:
            continue
        fields[name[:64]] = value[:MAX_FIELD_CHARS]
    return fields


class Drafts:
    """The stash of one app: keeping a form, and giving it back to the page it came from."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.window = SlidingWindow(STASHES_PER_MINUTE, 60.0)

    async def stash(self, request: Request, form: FormData, username: str | None) -> str | None:
        """Keep the posted fields; returns the cookie's token (None when rate-limited)."""
        address = request.client.host if request.client is not None else "unknown"
        if self.window.hit(address) is not None:
            return None
        fields = kept_fields(form)
        path = _app_path(request)
        return await asyncio.to_thread(self._keep, path, fields, username)

    def _keep(self, path: str, fields: dict[str, str], username: str | None) -> str:
        with self.gate.db.session() as session:
            return agent_drafts.keep(
                session,
                agent_drafts.STASH,
                path=path,
                fields=fields,
                now=self.gate.clock(),
                ttl=STASH_TTL,
                username=username,
            )

    async def after_sign_in(self, request: Request) -> str:
        """Where a fresh sign-in goes: the stashed form's page, the page asked for, or the board."""
        token = request.cookies.get(STASH_COOKIE)
        draft_path = await asyncio.to_thread(self._stashed_path, token)
        if draft_path is not None:
            return return_page(draft_path)
        wanted = request.cookies.get(NEXT_COOKIE, "")
        return wanted if _SAFE_PATH.match(wanted) and "//" not in wanted else "/agent"

    def _stashed_path(self, token: str | None) -> str | None:
        with self.gate.db.read_session() as session:
            draft = agent_drafts.find(session, token, agent_drafts.STASH, self.gate.clock())
            return draft.path if draft is not None else None

    async def restore(self, request: Request, page: str) -> dict[str, Any] | None:
        """The fields stashed from a form of ``page`` (then forgotten), or None."""
        token = request.cookies.get(STASH_COOKIE)
        if not token:
            return None
        return await asyncio.to_thread(self._take, token, page)

    def _take(self, token: str, page: str) -> dict[str, Any] | None:
        with self.gate.db.session() as session:
            now = self.gate.clock()
            draft = agent_drafts.find(session, token, agent_drafts.STASH, now)
            if draft is None or return_page(draft.path) != page:
                return None
            agent_drafts.take(session, token, agent_drafts.STASH, now)
            return dict(draft.fields)

    def set_stash_cookie(self, response: Response, token: str) -> None:
        self.gate.set_cookie(response, STASH_COOKIE, token, STASH_TTL)

    def set_next_cookie(self, response: Response, request: Request) -> None:
        wanted = _app_path(request)
        if request.url.query:
            wanted += "?" + request.url.query
        if _SAFE_PATH.match(wanted):
            self.gate.set_cookie(response, NEXT_COOKIE, wanted, STASH_TTL)

    def clear(self, response: Response) -> None:
        self.gate.clear_cookie(response, STASH_COOKIE)
        self.gate.clear_cookie(response, NEXT_COOKIE)


def _app_path(request: Request) -> str:
    """The request's path inside the app (without a proxy's ROOT_PATH prefix)."""
    root = str(request.scope.get("root_path", ""))
    path = request.url.path
    return path[len(root) :] if root and path.startswith(root) else path
