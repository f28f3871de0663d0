"""A refusal inside the dashboard is a page an agent can read, not FastAPI's raw JSON.

The gate and the routes raise ``HTTPException`` (403 for a non-admin or a cross-site form, 404
for a page that is not there, 429 when limited); under ``/agent`` the answer is the dashboard's
own page saying why, with a way back, and the page headers (no-store, the CSP). Everything else
keeps FastAPI's JSON answer (the API's clients read it).
"""

# No ``from __future__ import annotations``: FastAPI evaluates the handler's annotations.
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.web.agent.auth import PATH, root_path
from bot.web.html import PAGE_HEADERS, page

TITLES = {403: "Not allowed", 404: "Not found", 409: "Not done", 429: "Too many requests"}


def install(app: FastAPI, shop_name: str) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def dashboard_refusal(request: Request, exc: StarletteHTTPException) -> Response:
        base = root_path(request) + PATH
        path = request.url.path
        in_dashboard = path == base or path.startswith(base + "/")
        if exc.status_code < 400 or not in_dashboard or path.startswith(base + "/static/"):
            return await http_exception_handler(request, exc)
        answer = page(
            "agent/error.html",
            exc.status_code,
            shop_name=shop_name,
            base=base,
            username=None,
            title=TITLES.get(exc.status_code, "Something went wrong"),
            message=exc.detail if exc.status_code != 404 else "There is no such page.",
        )
        answer.headers.update({**PAGE_HEADERS, **(exc.headers or {})})
        return answer
