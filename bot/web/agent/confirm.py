"""A confirmation step for the dashboard's danger buttons, without JavaScript.

A danger form (cancel a line, revoke a link, close an item, disable an agent, cancel a
broadcast, revoke an API token) posts as any other; its route calls :func:`needs_asking` and,
unless the post carries ``confirmed=yes``, answers 303 to ``GET /agent/confirm``: a page that
says what will happen, with a "Yes" form posting the same fields again with ``confirmed=yes``
and a "No, go back" link. Post, redirect, get: Back or a reload never acts. The actions stay
idempotent, so a double-clicked "Yes" acts once (the second post finds it done).

Only paths under the dashboard are accepted as the form's target and the way back: the page
can never be made to post elsewhere or send the agent off-site.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from bot.web.agent.auth import PATH, root_path
from bot.web.agent.pages import Context
from bot.web.html import PAGE_HEADERS

CONFIRM_PATH = PATH + "/confirm"
# What each danger button does, worded on the confirm page (templates/web/agent/confirm.html).
WHAT = frozenset(
    {
        "cancel_line",
        "cancel_choice",
        "revoke_link",
        "close_item",
        "disable_agent",
        "cancel_broadcast",
        "revoke_token",
    }
)
_FIELD = "field."
_MAX_FIELDS = 5


def needs_asking(
    request: Request, form: FormData, what: str, back: str, subject: str = ""
) -> Response | None:
    """None when the agent confirmed; else the redirect to the confirm page (nothing done)."""
    if form.get("confirmed") == "yes":
        return None
    assert what in WHAT, what
    kept = [
        (_FIELD + name, value[:200])
        for name, value in form.multi_items()
        if name not in ("csrf", "confirmed") and isinstance(value, str)
    ][:_MAX_FIELDS]
    prefix = root_path(request)
    query = [
        ("do", request.url.path.removeprefix(prefix)),
        ("what", what),
        ("back", back),
        ("subject", subject[:100]),
        *kept,
    ]
    location = f"{prefix}{CONFIRM_PATH}?{urlencode(query)}"
    return RedirectResponse(location, 303, headers=PAGE_HEADERS)


def _dashboard_path(raw: str | None) -> str | None:
    """``raw`` if it is a path of the dashboard (no scheme, host or ``..``), else None."""
    if not raw or len(raw) > 300 or (not raw.startswith(PATH + "/") and raw != PATH):
        return None
    if "//" in raw or "\\" in raw or ".." in raw or any(c in raw for c in "\r\n\t"):
        return None
    return raw


def router(ctx: Context) -> APIRouter:
    routes = APIRouter()

    @routes.get(CONFIRM_PATH)
    async def confirm(request: Request) -> Response:
        """ "Are you sure?": the action in words, "Yes" (posts again, confirmed) and "No"."""
        who = await ctx.gate.agent(request)
        query = request.query_params
        target, back = _dashboard_path(query.get("do")), _dashboard_path(query.get("back"))
        what = query.get("what", "")
        if target is None or back is None or what not in WHAT:
            raise HTTPException(404, "nothing to confirm here", headers=PAGE_HEADERS)
        fields = [
            (name.removeprefix(_FIELD), value[:200])
            for name, value in query.multi_items()
            if name.startswith(_FIELD)
        ][:_MAX_FIELDS]
        prefix = root_path(request)
        return ctx.render(
            request, who, "confirm.html", what=what, target=prefix + target,
            back=prefix + back, fields=fields, subject=query.get("subject", "")[:100],
        )  # fmt: skip

    return routes
