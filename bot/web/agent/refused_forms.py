"""Post, redirect, get for a form the store refused (bad input), with the agent's text kept.

A refused form is not answered with a page rendered from the POST (Back or Reload would then
ask "Confirm Form Resubmission" and post it again): :func:`send_back` keeps the fields the
agent typed and the reason (``store.agent_drafts``, purpose ``refused``, readable only by that
agent, keyed by a random token in an HttpOnly cookie: never in a URL or a log) and answers 303
to the form's page; that page's GET calls :func:`take_back` and shows the form filled in again
with the error, also after a Reload (the draft lives ``REFUSED_TTL``; a Reload must not lose
the text either). The form's next accepted post calls :func:`forget`. Passwords are never
kept: the caller passes only the fields to give back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from bot.web.agent.auth import Gate, SignedIn, root_path
from bot.web.html import PAGE_HEADERS
from store import agent_drafts

REFUSED = "refused"
REFUSED_COOKIE = "backorder_agent_refused"
REFUSED_TTL = dt.timedelta(minutes=10)
_MAX_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Refused:
    """A form as the agent left it, and why it was refused."""

    fields: dict[str, str]
    error: str


async def send_back(
    gate: Gate,
    request: Request,
    who: SignedIn,
    page: str,
    fields: dict[str, str],
    error: str,
    fragment: str = "",
) -> Response:
    """303 to ``page`` (a dashboard path), which shows the form again with ``fields``."""
    kept = {name[:64]: value[:_MAX_CHARS] for name, value in fields.items()}

    def keep() -> str:
        with gate.db.session() as session:
            return agent_drafts.keep(
                session, REFUSED, path=page, fields={"fields": kept, "error": error[:500]},
                now=gate.clock(), ttl=REFUSED_TTL, username=who.username,
            )  # fmt: skip

    token = await asyncio.to_thread(keep)
    location = root_path(request) + page + (f"#{fragment}" if fragment else "")
    response = RedirectResponse(location, 303, headers=PAGE_HEADERS)
    gate.set_cookie(response, REFUSED_COOKIE, token, REFUSED_TTL)
    return response


async def take_back(gate: Gate, request: Request, who: SignedIn, page: str) -> Refused | None:
    """The refused form of ``page`` kept for this agent, or None."""
    token = request.cookies.get(REFUSED_COOKIE)
    if not token:
        return None

    def take() -> Refused | None:
        with gate.db.session() as session:
            now = gate.clock()
            draft = agent_drafts.find(session, token, REFUSED, now)
            if draft is None or draft.username != who.username or draft.path != page:
                return None
            data = dict(draft.fields)
            fields = data.get("fields")
            kept = {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {}
            return Refused(kept, str(data.get("error", "")))

    return await asyncio.to_thread(take)


def forget(gate: Gate, response: Response) -> Response:
    """The form went through: its refused draft is no longer shown (the row expires)."""
    gate.clear_cookie(response, REFUSED_COOKIE)
    return response
