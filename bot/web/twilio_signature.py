"""``X-Twilio-Signature`` verification, as a FastAPI dependency that yields the form it verified.

Twilio signs the URL it was configured to call, plus the sorted form parameters, with the
account's auth token (HMAC-SHA1). The URL is rebuilt from ``PUBLIC_BASE_URL`` and the route's
path (and the raw query string, when there is one); never from the request's own Host and
scheme, which are the proxy's when TLS ends in front of us. ``PUBLIC_BASE_URL`` therefore
includes any path prefix the proxy adds.

Order of checks, so an unauthenticated caller learns nothing and changes nothing:

1. Twilio not configured (no auth token or no ``PUBLIC_BASE_URL``), or no signature: 403.
2. A body over ``MAX_BODY_BYTES``: 413.
3. The signature is checked over the form's parameters when the body is an
   ``application/x-www-form-urlencoded`` form (the only encoding Twilio uses for webhooks),
   otherwise over the URL alone, which is what Twilio signs for a non-form body. Wrong: 403.
4. Only then: an authenticated body that is not a form gets 400.

The dependency reads the request body itself; routes using it get the parameters from it.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn, Self
from urllib.parse import parse_qs, parse_qsl

from fastapi import HTTPException, Request
from pydantic import SecretStr
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import SIGNATURE_HEADER

from bot.settings import Settings
from bot.web.bodies import read_capped
from bot.web.ops import WebMetrics
from bot.web.twilio_hmac import FormSignature

logger = logging.getLogger(__name__)

# Twilio's largest webhook (an inbound MMS with ten media items) is a few KiB.
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 200
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

TwilioForm = ImmutableMultiDict[str, str]
"""The verified form. Repeated keys keep every value (``getlist``); ``get`` gives the last."""


class _NotAForm(ValueError):
    pass


class TwilioSignature:
    """A FastAPI dependency: ``form: Annotated[TwilioForm, Depends(verifier)]``.

    One instance serves every Twilio route of an app (status callbacks, inbound SMS).
    """

    def __init__(
        self, auth_token: SecretStr | None, public_base_url: str | None, metrics: WebMetrics
    ) -> None:
        self._validator = FormSignature(auth_token.get_secret_value()) if auth_token else None
        self._base_url = public_base_url.rstrip("/") if public_base_url else None
        self._metrics = metrics

    @classmethod
    def from_settings(cls, settings: Settings, metrics: WebMetrics) -> Self:
        return cls(settings.twilio_auth_token, settings.public_base_url, metrics)

    async def __call__(self, request: Request) -> TwilioForm:
        route = route_label(request)
        if self._validator is None or self._base_url is None:
            logger.warning(
                "Twilio webhook %s refused: set TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL", route
            )
            self._refuse(route, "not_configured", 403)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            logger.warning("Twilio webhook %s refused: no %s header", route, SIGNATURE_HEADER)
            self._refuse(route, "forbidden", 403)
        body = await read_capped(request, MAX_BODY_BYTES)
        if body is None:
            logger.warning("Twilio webhook %s refused: body over %d bytes", route, MAX_BODY_BYTES)
            self._refuse(route, "too_large", 413)
        url = self._public_url(request)
        try:
            form: TwilioForm | None = _parse_form(request, body)
        except _NotAForm:
            form = None
        signed: Any = form if form is not None else _unsigned_body(url, body)
        if not self._validator.validate(url, signed, signature):
            # Neither the signature nor the token goes to the log: either would help a forger.
            logger.warning("Twilio webhook %s refused: signature does not match", route)
            self._refuse(route, "forbidden", 403)
        if form is None:
            logger.warning("Twilio webhook %s: authenticated body is not a form", route)
            self._refuse(route, "not_form", 400)
        return form

    def _public_url(self, request: Request) -> str:
        url = f"{self._base_url}{_route_path(request)}"
        # The query string is signed exactly as it was sent, so it is taken raw, not re-encoded.
        query = request.scope.get("query_string", b"").decode("latin-1")
        return f"{url}?{query}" if query else url

    def _refuse(self, route: str, outcome: str, status_code: int) -> NoReturn:
        self._metrics.webhook(route, outcome)
        raise HTTPException(status_code=status_code)


def route_label(request: Request) -> str:
    """The matched route's path template: a bounded metric label, unlike the raw URL."""
    path = getattr(request.scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


def _route_path(request: Request) -> str:
    """The path below the app's mount point: what follows ``PUBLIC_BASE_URL``."""
    path: str = request.scope["path"]
    root = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def _parse_form(request: Request, body: bytes) -> TwilioForm:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise _NotAForm(content_type)
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            # Twilio signs empty parameters too (e.g. ``FromCity=``); dropping them breaks it.
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError as exc:  # UnicodeDecodeError is one
        raise _NotAForm(str(exc)) from None
    return ImmutableMultiDict(pairs)


def _unsigned_body(url: str, body: bytes) -> Any:
    """What a non-form body is verified with: nothing (the URL alone), or with Twilio's
    ``bodySHA256`` query parameter, the body text itself so that the validator checks its hash."""
    if "bodySHA256" in parse_qs(url.partition("?")[2]):
        return body.decode("utf-8", errors="replace")
    return {}
