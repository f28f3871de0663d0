"""What the pages opened by a private link share (the order page ``/o/``, the supplier page
``/s/``): the headers on every answer, the limits per link and per address checked before any
look-up, the one 404 for every link that opens nothing, and form values signed for one link.

Each page keeps its own templates and its own CSRF message; what must not drift apart between
them (a header forgotten on one, a 404 that differs) lives here once.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from bot.web.ops import WebMetrics
from bot.web.sliding_window import LinkLimits

__all__ = [
    "CSP",
    "LinkGuard",
    "PageLimits",
    "form_signed",
    "html_response",
    "security_headers",
    "sign_form",
]

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
CSRF_CHARS = 32  # of base64url: 192 bits


@dataclass(frozen=True, slots=True)
class PageLimits:
    """Requests allowed per token and per client address in a window (per process)."""

    per_token: int = 30
    per_address: int = 120
    window_seconds: float = 60.0


def security_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The headers every response of a link page carries."""
    return {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        **(extra or {}),
    }


def html_response(
    body: str, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        body,
        status_code=status,
        media_type="text/html; charset=utf-8",
        headers=security_headers(headers),
    )


def sign_form(key: bytes, message: str) -> str:
    """A form's CSRF value: an HMAC of what the form may do, under the page's own key."""
    mac = hmac.new(key, message.encode(), "sha256").digest()
    return base64.urlsafe_b64encode(mac).decode("ascii")[:CSRF_CHARS]


def form_signed(key: bytes, message: str, given: str) -> bool:
    expected = sign_form(key, message)
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


ErrorPage = Callable[[Request, int, str, "dict[str, str] | None"], Response]


class LinkGuard:
    """The limits and the 404 of one link page's route (``route`` is its metrics label)."""

    def __init__(
        self, limits: PageLimits, metrics: WebMetrics, route: str, error_page: ErrorPage
    ) -> None:
        self._limits = LinkLimits(limits.per_token, limits.per_address, limits.window_seconds)
        self._metrics = metrics
        self._route = route
        self._error_page = error_page

    def refusal(self, request: Request, token: str) -> Response | None:
        """429 with ``Retry-After`` when this link or this address asked too often, else None."""
        address = request.client.host if request.client is not None else "unknown"
        retry_after = self._limits.retry_after(address, token)
        if retry_after is None:
            return None
        self._metrics.webhook(self._route, "rate_limited")
        return self._error_page(request, 429, "too_many", {"Retry-After": retry_after})

    def not_found(self, request: Request) -> Response:
        """The one 404 for every token that opens nothing: nothing in it depends on the token."""
        self._metrics.webhook(self._route, "not_found")
        return self._error_page(request, 404, "not_found", None)
