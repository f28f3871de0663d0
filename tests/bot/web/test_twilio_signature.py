"""X-Twilio-Signature: checked against PUBLIC_BASE_URL + path (+ query), with every form value.

Every refusal is a 403 that changes nothing; the status route stands in for all Twilio routes.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the probe route's
# ``Depends(verify)``, a local of ``probe_app``.
import logging
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import Depends, FastAPI

from bot.settings import Settings
from bot.web import create_app
from bot.web.ops import WebMetrics
from bot.web.twilio_signature import MAX_BODY_BYTES, TwilioForm, TwilioSignature
from store.db import Database
from store.models import OutboxStatus

from .conftest import (
    FORM,
    PUBLIC_BASE_URL,
    STATUS_PATH,
    STATUS_URL,
    TOKEN,
    Params,
    PostStatus,
    StatusOf,
    client_for,
    sign,
    twilio_settings,
)

pytestmark = pytest.mark.asyncio


def _delivered(sid: str) -> Params:
    return [("MessageSid", sid), ("MessageStatus", "delivered")]


async def _post(
    client: httpx.AsyncClient, params: Params, signature: str, path: str = STATUS_PATH
) -> httpx.Response:
    headers = {**FORM, "X-Twilio-Signature": signature}
    return await client.post(path, content=urlencode(list(params)), headers=headers)


async def test_wrong_signature_answers_403_and_changes_nothing(
    client: httpx.AsyncClient, sent_sid: str, status_of: StatusOf
) -> None:
    params = _delivered(sent_sid)
    response = await _post(client, params, sign(STATUS_URL, params, token="another-token"))
    assert response.status_code == 403
    assert status_of(sent_sid) == (OutboxStatus.SENT, None)


async def test_tampered_form_answers_403_and_changes_nothing(
    client: httpx.AsyncClient, sent_sid: str, status_of: StatusOf
) -> None:
    signed = [("MessageSid", sent_sid), ("MessageStatus", "sent")]
    response = await _post(client, _delivered(sent_sid), sign(STATUS_URL, signed))
    assert response.status_code == 403
    assert status_of(sent_sid) == (OutboxStatus.SENT, None)


async def test_signature_for_the_requests_own_url_answers_403(
    client: httpx.AsyncClient, sent_sid: str, status_of: StatusOf
) -> None:
    # What a validator built from request.url would accept: wrong behind a TLS proxy.
    params = _delivered(sent_sid)
    response = await _post(client, params, sign("http://testserver" + STATUS_PATH, params))
    assert response.status_code == 403
    assert status_of(sent_sid) == (OutboxStatus.SENT, None)


async def test_query_string_is_part_of_the_signed_url(
    post_status: PostStatus, sent_sid: str, status_of: StatusOf
) -> None:
    response = await post_status(_delivered(sent_sid), query="outbox=7&retry=%2B1")
    assert response.status_code == 200
    assert status_of(sent_sid)[0] == OutboxStatus.DELIVERED


async def test_signature_without_the_query_string_answers_403(
    client: httpx.AsyncClient, sent_sid: str, status_of: StatusOf
) -> None:
    params = _delivered(sent_sid)
    response = await _post(client, params, sign(STATUS_URL, params), STATUS_PATH + "?outbox=7")
    assert response.status_code == 403
    assert status_of(sent_sid) == (OutboxStatus.SENT, None)


async def test_repeated_form_keys_verify(
    post_status: PostStatus, sent_sid: str, status_of: StatusOf
) -> None:
    params = [*_delivered(sent_sid), ("Tag", "b"), ("Tag", "a"), ("Empty", "")]
    response = await post_status(params)
    assert response.status_code == 200
    assert status_of(sent_sid)[0] == OutboxStatus.DELIVERED


def probe_app(settings: Settings) -> FastAPI:
    """A stand-in for the inbound SMS webhook: echoes the form the dependency verified."""
    verify = TwilioSignature.from_settings(settings, WebMetrics())
    app = FastAPI()

    @app.post("/webhooks/twilio/sms")
    async def sms(form: Annotated[TwilioForm, Depends(verify)]) -> dict[str, list[str]]:
        return {key: form.getlist(key) for key in form}

    return app


async def test_dependency_returns_every_value_of_a_repeated_key(settings: Settings) -> None:
    params = [("Body", "STATUS"), ("MediaUrl", "https://a"), ("MediaUrl", "https://b")]
    signature = sign(PUBLIC_BASE_URL + "/webhooks/twilio/sms", params)
    async with client_for(probe_app(settings)) as client:
        response = await _post(client, params, signature, "/webhooks/twilio/sms")
    assert response.status_code == 200
    assert response.json() == {"Body": ["STATUS"], "MediaUrl": ["https://a", "https://b"]}


async def test_twilio_without_auth_token_answers_403(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    committed_db: Database,
    sent_sid: str,
    status_of: StatusOf,
) -> None:
    monkeypatch.chdir(tmp_path)
    unconfigured = twilio_settings(
        twilio_account_sid=None, twilio_auth_token=None, twilio_from_number=None
    )
    params = _delivered(sent_sid)
    async with client_for(create_app(unconfigured, committed_db)) as client:
        response = await _post(client, params, sign(STATUS_URL, params))
    assert response.status_code == 403
    assert status_of(sent_sid) == (OutboxStatus.SENT, None)


async def test_twilio_without_public_base_url_answers_403(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    committed_db: Database,
    sent_sid: str,
    status_of: StatusOf,
) -> None:
    monkeypatch.chdir(tmp_path)
    unconfigured = twilio_settings(public_base_url=None)
    params = _delivered(sent_sid)
    async with client_for(create_app(unconfigured, committed_db)) as client:
        response = await _post(client, params, sign(STATUS_URL, params))
    assert response.status_code == 403
    assert status_of(sent_sid) == (OutboxStatus.SENT, None)


async def test_body_over_the_limit_answers_413(client: httpx.AsyncClient) -> None:
    params = [("Body", "x" * MAX_BODY_BYTES)]
    response = await _post(client, params, sign(STATUS_URL, params))
    assert response.status_code == 413


async def test_refusals_never_log_the_token_or_the_signature(
    client: httpx.AsyncClient, sent_sid: str, caplog: pytest.LogCaptureFixture
) -> None:
    params = _delivered(sent_sid)
    forged = sign(STATUS_URL, params, token="another-token")
    with caplog.at_level(logging.DEBUG):
        response = await _post(client, params, forged)
    assert response.status_code == 403
    assert "signature does not match" in caplog.text
    assert TOKEN not in caplog.text
    assert forged not in caplog.text
