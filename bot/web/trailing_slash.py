"""Addresses with a trailing slash: a clear 404, never Starlette's automatic redirect.

The redirect (307) would point at the address the app sees, which behind a proxy is the
internal host, and a webhook provider following it would reach the wrong place or sign the
wrong URL (Twilio signs the exact URL it was configured with). So the app is built with
``redirect_slashes=False`` and this route, registered last, says what is wrong.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def router() -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.api_route("/{rest:path}/", methods=METHODS)
    async def trailing_slash(request: Request, rest: str) -> JSONResponse:
        """Only reached when no route matched: the same address without the slash may."""
        return JSONResponse(
            {"detail": f"no such address; remove the trailing slash (/{rest[:200]})"}, 404
        )

    return routes
