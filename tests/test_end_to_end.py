"""The whole outbound path: a backorder in the store -> notifier -> outbox -> dispatcher ->
the real Telegram and Twilio channels -> a fake provider over HTTP (checked against the
providers' specs) -> a signed Twilio status callback -> delivered."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from bot.settings import Settings
from bot.web import create_app
from messaging.channels.sms import TwilioSmsChannel
from messaging.channels.telegram import TelegramChannel
from messaging.dispatcher import DispatchConfig, Dispatcher, Unlimited
from messaging.notifier import ShopVoice
from messaging.quiet_hours import QuietHours
from store.db import Database
from store.models import Channel, OutboxMessage, OutboxStatus
from tests import factories as f
from tests.messaging.fake_providers import (
    TELEGRAM_TOKEN,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    FakeProviders,
)
from tests.twilio_signing import sign

PUBLIC = "https://shop.example"
STATUS_PATH = "/webhooks/twilio/status"
FROM = "+14155550199"


@pytest.mark.asyncio
async def test_backorder_reaches_each_customer_once_and_is_marked_delivered(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TWILIO_REGION", "TWILIO_EDGE"):
        monkeypatch.delenv(name, raising=False)
    with committed_db.session() as session:
        f.product(session, "PAN", stock=1, eta=dt.date(2026, 12, 24))
        ana = f.customer(session, name="Ana García", phone="+34612345678")
        ana.locale = "es"
        bob = f.customer(session, name="Bob Smith", phone="+14155550123")
        bob.preferred_channel = Channel.TELEGRAM
        bob.telegram_chat_id = 5_000_000_002
        f.order(session, "E1", [("PAN", 1)], who=ana)  # takes the last unit: no message
        f.order(session, "E2", [("PAN", 2)], who=ana)
        f.order(session, "E3", [("PAN", 1)], who=bob)

    async with FakeProviders() as fake:
        sms = TwilioSmsChannel(
            TWILIO_ACCOUNT_SID,
            TWILIO_AUTH_TOKEN,
            from_number=FROM,
            base_url=fake.twilio_base_url,
            status_callback_url=PUBLIC + STATUS_PATH,
        )
        telegram = TelegramChannel(TELEGRAM_TOKEN, base_url=fake.telegram_base_url)
        dispatcher = Dispatcher(
            committed_db,
            {Channel.SMS: sms, Channel.TELEGRAM: telegram},
            {Channel.SMS: Unlimited(), Channel.TELEGRAM: Unlimited()},
            DispatchConfig(
                quiet_hours=QuietHours(dt.time(0), dt.time(0)),
                rates={Channel.SMS: 100.0, Channel.TELEGRAM: 100.0},
                voice=ShopVoice("Casa Test", "help@casa.test"),
            ),
        )
        try:
            stats = await dispatcher.run_once()
            again = await dispatcher.run_once()
        finally:
            await sms.close()
            await telegram.close()

    assert fake.violations == []
    assert stats.outcomes["sent"] == 2
    assert again.outcomes["sent"] == 0
    [text_message] = fake.sent("twilio")
    [telegram_message] = fake.sent("telegram")
    assert text_message.fields["To"] == "+34612345678"
    assert "E2" in text_message.fields["Body"]
    assert "ESPERAR" in text_message.fields["Body"]  # Ana reads Spanish
    assert text_message.fields["StatusCallback"] == PUBLIC + STATUS_PATH
    assert telegram_message.fields["chat_id"] == 5_000_000_002
    assert "E3" in telegram_message.fields["text"]
    assert telegram_message.fields["reply_markup"]["inline_keyboard"]

    with committed_db.read_session() as session:
        sms_row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == Channel.SMS)
        ).one()
    assert sms_row.status == OutboxStatus.SENT
    assert sms_row.provider_id is not None

    settings = Settings(
        public_base_url=PUBLIC,
        twilio_account_sid=TWILIO_ACCOUNT_SID,
        twilio_auth_token=TWILIO_AUTH_TOKEN,  # type: ignore[arg-type]
        twilio_from_number=FROM,
    )
    params = [
        ("MessageSid", sms_row.provider_id),
        ("MessageStatus", "delivered"),
        ("AccountSid", TWILIO_ACCOUNT_SID),
    ]
    app = create_app(settings, committed_db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        answer = await client.post(
            STATUS_PATH,
            content=urlencode(params),
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(PUBLIC + STATUS_PATH, params, TWILIO_AUTH_TOKEN),
            },
        )
    assert answer.status_code == 200
    with committed_db.read_session() as session:
        assert session.get(OutboxMessage, sms_row.id).status == OutboxStatus.DELIVERED  # type: ignore[union-attr]
