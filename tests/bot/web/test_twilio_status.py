"""POST /webhooks/twilio/status: delivery reports move outbox rows forward, never back."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from bot.settings import Settings
from bot.web import create_app
from store.db import Database
from store.models import Customer, HeldStatusReport, OutboxMessage, OutboxStatus, ReachState

from .conftest import FORM, STATUS_PATH, STATUS_URL, PostStatus, StatusOf, client_for, sign

pytestmark = pytest.mark.asyncio


async def test_valid_signature_updates_status_to_delivered(
    post_status: PostStatus, sent_sid: str, status_of: StatusOf
) -> None:
    response = await post_status([("MessageSid", sent_sid), ("MessageStatus", "delivered")])
    assert response.status_code == 200
    assert response.content == b""
    assert status_of(sent_sid) == (OutboxStatus.DELIVERED, None)


async def test_out_of_order_callbacks_keep_delivered(
    post_status: PostStatus, sent_sid: str, status_of: StatusOf
) -> None:
    await post_status([("MessageSid", sent_sid), ("MessageStatus", "delivered")])
    response = await post_status([("MessageSid", sent_sid), ("MessageStatus", "sent")])
    assert response.status_code == 200
    assert status_of(sent_sid)[0] == OutboxStatus.DELIVERED


async def test_error_code_is_kept_as_error_text(
    post_status: PostStatus, sent_sid: str, status_of: StatusOf
) -> None:
    await post_status(
        [("MessageSid", sent_sid), ("MessageStatus", "undelivered"), ("ErrorCode", "30007")]
    )
    assert status_of(sent_sid) == (OutboxStatus.UNDELIVERED, "30007")


async def test_unknown_message_sid_answers_200_and_changes_nothing(
    post_status: PostStatus, sent_sid: str, status_of: StatusOf
) -> None:
    response = await post_status([("MessageSid", "SM" + "f" * 32), ("MessageStatus", "delivered")])
    assert response.status_code == 200
    assert status_of(sent_sid) == (OutboxStatus.SENT, None)


async def test_unknown_message_status_answers_200_logs_and_changes_nothing(
    post_status: PostStatus, sent_sid: str, status_of: StatusOf, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.web"):
        response = await post_status([("MessageSid", sent_sid), ("MessageStatus", "teleported")])
    assert response.status_code == 200
    assert status_of(sent_sid) == (OutboxStatus.SENT, None)
    assert "unknown MessageStatus 'teleported'" in caplog.text


async def test_form_without_message_sid_answers_200_warns_and_changes_nothing(
    post_status: PostStatus, sent_sid: str, status_of: StatusOf, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.web"):
        response = await post_status([("MessageStatus", "delivered")])
    assert response.status_code == 200
    assert status_of(sent_sid) == (OutboxStatus.SENT, None)
    assert "without a usable MessageSid" in caplog.text


async def test_missing_signature_answers_403_and_changes_nothing(
    client: httpx.AsyncClient, sent_sid: str, status_of: StatusOf
) -> None:
    body = urlencode({"MessageSid": sent_sid, "MessageStatus": "delivered"})
    response = await client.post(STATUS_PATH, content=body, headers=FORM)
    assert response.status_code == 403
    assert status_of(sent_sid) == (OutboxStatus.SENT, None)


async def test_authenticated_body_that_is_not_a_form_answers_400(
    client: httpx.AsyncClient, sent_sid: str, status_of: StatusOf
) -> None:
    # For a body that is not a form Twilio signs the URL alone.
    headers = {"content-type": "application/json", "X-Twilio-Signature": sign(STATUS_URL, [])}
    body = json.dumps({"MessageSid": sent_sid, "MessageStatus": "delivered"})
    response = await client.post(STATUS_PATH, content=body, headers=headers)
    assert response.status_code == 400
    assert status_of(sent_sid) == (OutboxStatus.SENT, None)


async def test_unauthenticated_body_that_is_not_a_form_answers_403(
    client: httpx.AsyncClient,
) -> None:
    headers = {"content-type": "application/json", "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    response = await client.post(STATUS_PATH, content=b"\x00junk{", headers=headers)
    assert response.status_code == 403


async def test_database_error_still_answers_200(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Database(f"sqlite:///{tmp_path}")  # a folder: every connection fails
    params = [("MessageSid", "SM" + "0" * 32), ("MessageStatus", "delivered")]
    headers = {**FORM, "X-Twilio-Signature": sign(STATUS_URL, params)}
    try:
        async with client_for(create_app(settings, broken)) as client:
            with caplog.at_level(logging.ERROR, logger="bot.web"):
                response = await client.post(
                    STATUS_PATH, content=urlencode(params), headers=headers
                )
    finally:
        broken.dispose()
    assert response.status_code == 200
    assert "not recorded" in caplog.text


async def test_a_report_that_comes_before_the_sid_is_written_down_is_held(
    post_status: PostStatus, committed_db: Database
) -> None:
    sid = "SM" + "e" * 32  # the dispatcher has not committed this send's outcome yet
    response = await post_status([("MessageSid", sid), ("MessageStatus", "delivered")])
    assert response.status_code == 200
    with committed_db.read_session() as session:
        held = session.execute(select(HeldStatusReport.provider_id, HeldStatusReport.status)).all()
    assert [tuple(h) for h in held] == [(sid, OutboxStatus.DELIVERED)]


async def test_a_landline_report_stops_sms_to_that_number(
    post_status: PostStatus, sent_sid: str, committed_db: Database
) -> None:
    await post_status(
        [("MessageSid", sent_sid), ("MessageStatus", "undelivered"), ("ErrorCode", "30006")]
    )
    with committed_db.read_session() as session:
        state = session.scalar(
            select(Customer.sms_state)
            .join(OutboxMessage, OutboxMessage.customer_id == Customer.id)
            .where(OutboxMessage.provider_id == sent_sid)
        )
    assert state == ReachState.INVALID
