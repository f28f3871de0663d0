"""Builds the messaging parts from the settings: the one place that knows both.

No credentials at all: both channels are sandboxes (nothing leaves the machine; what they
"send" is appended to ``SANDBOX_LOG``). Credentials for one provider only: only that channel is
built; messages for the other stay queued and no new ones are routed to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from bot.settings import Settings
from messaging.channels.base import Channel as ChannelProtocol
from messaging.channels.email import SmtpConfig, SmtpEmailChannel
from messaging.channels.sandbox import SandboxChannel
from messaging.channels.sms import TwilioSmsChannel
from messaging.channels.telegram import TelegramChannel
from messaging.dispatcher import DispatchConfig, Dispatcher, Limiter
from messaging.notifier import OrderLinks, ShopVoice
from messaging.quiet_hours import QuietHours
from messaging.ratelimit import RateLimiter
from store.db import Database
from store.models import Channel


def build_channels(settings: Settings) -> dict[Channel, ChannelProtocol]:
    channels: dict[Channel, ChannelProtocol] = {}
    if settings.sandbox:
        for kind in Channel:
            channels[kind] = SandboxChannel(kind, log_path=settings.sandbox_log)
        channels.update(email_channel(settings))
        return channels
    channels.update(email_channel(settings))
    if settings.telegram_bot_token is not None:
        channels[Channel.TELEGRAM] = TelegramChannel(
            settings.telegram_bot_token.get_secret_value(),
            base_url=settings.telegram_api_base_url,
        )
    if settings.twilio_account_sid and settings.twilio_auth_token is not None:
        channels[Channel.SMS] = TwilioSmsChannel(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            base_url=settings.twilio_api_base_url,
            status_callback_url=status_callback_url(settings),
            validity_period=settings.sms_validity_period_seconds,
        )
    return channels


def email_channel(settings: Settings) -> dict[Channel, ChannelProtocol]:
    """SMTP when SMTP_HOST is set; else the sandbox records e-mails, whatever else is real."""
    if settings.smtp_host is None:
        return {Channel.EMAIL: SandboxChannel(Channel.EMAIL, log_path=settings.sandbox_log)}
    assert settings.smtp_from is not None  # checked with the settings
    password = settings.smtp_password
    config = SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=password.get_secret_value() if password is not None else None,
        timeout=settings.smtp_timeout_seconds,
    )
    return {Channel.EMAIL: SmtpEmailChannel(config)}


def status_callback_url(settings: Settings) -> str | None:
    if not settings.public_base_url:
        return None
    return f"{settings.public_base_url}/webhooks/twilio/status"


def build_limiters(settings: Settings, workers: int = 1) -> dict[Channel, Limiter]:
    """Each worker takes its share of the providers' limits (see the README)."""
    share = 1.0 / max(1, workers)
    return {
        Channel.TELEGRAM: RateLimiter(
            settings.telegram_rate_per_second,
            settings.telegram_per_chat_per_second,
            share=share,
        ),
        # One sending number: the per-key limit is the sender's own pace.
        Channel.SMS: RateLimiter(
            settings.sms_rate_per_second, settings.sms_rate_per_second, share=share
        ),
        Channel.EMAIL: RateLimiter(
            settings.email_rate_per_second, settings.email_rate_per_second, share=share
        ),
    }


def dispatch_config(settings: Settings) -> DispatchConfig:
    share = 1.0 / settings.dispatch_workers
    return DispatchConfig(
        quiet_hours=QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
        # This worker's share, as its limiter sees it: batches are sized from it.
        rates={
            Channel.TELEGRAM: settings.telegram_rate_per_second * share,
            Channel.SMS: settings.sms_rate_per_second * share,
            Channel.EMAIL: settings.email_rate_per_second * share,
        },
        voice=shop_voice(settings),
    )


def shop_voice(settings: Settings) -> ShopVoice:
    """What messages say about the shop, with order page links (news and replies alike)."""
    return ShopVoice(
        settings.shop_name,
        settings.support_contact,
        OrderLinks.from_secret(settings.order_page_base_url, settings.order_link_secret_bytes()),
    )


def build_dispatcher(
    settings: Settings, db: Database, channels: dict[Channel, ChannelProtocol]
) -> Dispatcher:
    return Dispatcher(
        db,
        channels,
        build_limiters(settings, settings.dispatch_workers),
        dispatch_config(settings),
    )


@contextlib.asynccontextmanager
async def running_dispatcher(settings: Settings, db: Database) -> AsyncIterator[Dispatcher]:
    """The dispatcher as a background task for ``serve``: stopped cleanly on the way out."""
    channels = build_channels(settings)
    dispatcher = build_dispatcher(settings, db, channels)
    task = asyncio.create_task(dispatcher.run(), name="dispatcher")
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        await task
        for channel in channels.values():
            await channel.close()


def dispatcher_lifespan(
    settings: Settings, db: Database
) -> Callable[[object], AbstractAsyncContextManager[None]]:
    """The dispatcher as a lifespan hook of the web app (``create_app(lifespan_hooks=...)``)."""

    @contextlib.asynccontextmanager
    async def hook(_app: object) -> AsyncIterator[None]:
        async with running_dispatcher(settings, db):
            yield

    return hook
