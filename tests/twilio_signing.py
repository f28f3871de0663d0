"""Requests signed the way Twilio signs them, with twilio's own ``RequestValidator``."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

Params = Sequence[tuple[str, str]]


def sign(url: str, params: Params, token: str) -> str:
    """Twilio's signature; a multi-dict so that repeated keys are signed with every value."""
    return str(RequestValidator(token).compute_signature(url, ImmutableMultiDict(list(params))))
