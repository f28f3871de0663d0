"""The ASGI app factory: every HTTP route of ``backorder-bot serve`` in one FastAPI app.

Nothing is read at import time and there is no module-level app: the entry point reads the
settings, opens the database and calls ``create_app``. Each area is one router module, built
around the objects it needs (``ops``, ``twilio_status``; later ``twilio_sms``, ``telegram``,
``api``, ``agent``). The caller owns the database and disposes of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr
from telegram.ext import Application
from telegram.request import BaseRequest

from bot import inbound as inbound_service
from bot.inbound import Inbound
from bot.integrations.orderfeed import apply as order_feed_apply
from bot.integrations.orderfeed import webhook as order_feed_webhook
from bot.integrations.orderfeed.ingest import FeedIngest
from bot.integrations.shopify import webhook as shopify_webhook
from bot.integrations.shopify.ingest import ShopifyIngest
from bot.integrations.shopify.topics import Config as ShopifyConfig
from bot.sandbox import SANDBOX_TOKEN, SandboxBotApi, SandboxKeys
from bot.settings import Settings
from bot.telegram.agents import AgentCommands
from bot.telegram.bot import build_application, running
from bot.web import (
    access_log,
    agent,
    api,
    ops,
    order_page,
    simulator,
    supplier_page,
    telegram_webhook,
    trailing_slash,
    twilio_sms,
    twilio_status,
)
from bot.web.agent import refusals
from bot.web.path_prefix import PathPrefix
from bot.web.twilio_signature import TwilioSignature
from messaging.channels.aiohttp_request import AiohttpRequest
from messaging.channels.sandbox import SandboxChannel
from messaging.render import render_message
from messaging.types import ChannelKind
from store.db import Database

LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]
"""Something to run for the app's lifetime, e.g. the Telegram application or the dispatcher."""


def create_app(
    settings: Settings,
    db: Database,
    *,
    lifespan_hooks: Sequence[LifespanHook] = (),
    telegram_request: BaseRequest | None = None,
) -> FastAPI:
    """Build the web app. Lifespan hooks are entered in order and exited in reverse.

    With ``TELEGRAM_BOT_TOKEN`` set the Telegram application runs for the app's lifetime (its
    hook first, so it is up before anything else starts). ``telegram_request`` replaces PTB's
    HTTP transport (tests).

    In sandbox mode (no credentials at all) the webhooks accept requests signed with keys made
    for this process (``app.state.sandbox_keys``), the Telegram handlers answer into the sandbox
    log, and the customer simulator is mounted at ``/simulator``. Raises ``SettingsError`` for
    settings the web app cannot run with.
    """
    settings.check_can_serve()
    access_log.install()  # searches put phone numbers in query strings
    keys = SandboxKeys.generate() if settings.sandbox else None
    inbound = inbound_service.from_settings(settings, db)
    agents = AgentCommands.from_settings(settings, db, inbound)  # Telegram agent commands
    telegram = _telegram_application(settings, inbound, telegram_request, keys, agents)
    hooks = tuple(lifespan_hooks)
    if telegram is not None:
        hooks = (_telegram_hook(settings, telegram, inbound), *hooks)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for hook in hooks:
                await stack.enter_async_context(hook(app))
            yield

    # No automatic slash redirects: see bot.web.trailing_slash.
    app = FastAPI(title="backorder-bot", lifespan=lifespan, redirect_slashes=False)
    app.add_middleware(PathPrefix, prefix=settings.root_path)
    metrics = ops.WebMetrics()
    verify_twilio = TwilioSignature.from_settings(settings, metrics)
    telegram_secret = settings.telegram_webhook_secret
    if keys is not None:
        verify_twilio = TwilioSignature(
            SecretStr(keys.twilio_auth_token), keys.public_base_url, metrics
        )
        telegram_secret = SecretStr(keys.telegram_secret)
        simulator_state = simulator.Simulator(db, keys, settings.sandbox_log, settings.shop_name)
        app.include_router(simulator.router(simulator_state))
    # The webhooks first: routes are tried in order, and they take most of the traffic (behind
    # the API's and the dashboard's routes, each webhook request was matched against all those).
    whatsapp = render_message(
        "whatsapp_unsupported",
        ChannelKind.SMS,
        settings.default_locale,
        shop_name=settings.shop_name,
    ).text
    app.include_router(twilio_sms.router(inbound, verify_twilio, metrics, whatsapp_answer=whatsapp))
    app.include_router(telegram_webhook.router(telegram, telegram_secret, inbound, metrics))
    app.include_router(twilio_status.router(db, verify_twilio, metrics))
    app.include_router(_shopify_router(settings, db, metrics))
    app.include_router(_order_feed_router(settings, db, metrics))
    app.include_router(ops.router(db, metrics))
    app.include_router(order_page.router(db, settings, metrics))
    app.include_router(supplier_page.router(db, settings, metrics))
    app.include_router(api.router(settings, db), prefix=api.PREFIX)
    app.include_router(agent.router(settings, db, metrics))
    refusals.install(app, settings.shop_name)  # the dashboard's refusals are pages, not JSON
    app.include_router(trailing_slash.router())  # last: only what nothing else matched
    app.state.telegram = telegram
    app.state.sandbox_keys = keys
    return app


def _shopify_router(settings: Settings, db: Database, metrics: ops.WebMetrics) -> Any:
    config = ShopifyConfig(
        policy=settings.policy(),
        default_locale=settings.default_locale,
        default_timezone=settings.default_timezone,
        phone_region=settings.default_phone_region,
    )
    return shopify_webhook.router(
        ShopifyIngest(db, config),
        settings.shopify_webhook_secret,
        settings.shopify_shop_domain,
        metrics,
    )


def _order_feed_router(settings: Settings, db: Database, metrics: ops.WebMetrics) -> Any:
    config = order_feed_apply.Config(
        policy=settings.policy(),
        default_locale=settings.default_locale,
        default_timezone=settings.default_timezone,
        phone_region=settings.default_phone_region,
    )
    return order_feed_webhook.router(
        FeedIngest(db, config),
        settings.order_feed_secret,
        metrics,
        window_s=settings.order_feed_replay_window_seconds,
    )


TelegramApplication = Application[Any, Any, Any, Any, Any, Any]


def _telegram_application(
    settings: Settings,
    inbound: Inbound,
    request: BaseRequest | None,
    sandbox: SandboxKeys | None,
    agents: AgentCommands,
) -> TelegramApplication | None:
    if sandbox is not None:
        recorder = SandboxChannel(ChannelKind.TELEGRAM, log_path=settings.sandbox_log)
        return build_application(
            SANDBOX_TOKEN,
            inbound,
            base_url=settings.telegram_api_base_url,
            webhook=True,
            request=request or SandboxBotApi(recorder),
            agents=agents,
        )
    if settings.telegram_bot_token is None:
        return None
    if request is None and settings.telegram_webhook:
        # The dispatcher's aiohttp transport for the handlers' answers too: PTB's default
        # (httpx) cost more CPU per answer than the rest of the update's handling. Polling
        # keeps PTB's own transport, which its long-polling getUpdates is built around.
        request = AiohttpRequest()
    return build_application(
        settings.telegram_bot_token.get_secret_value(),
        inbound,
        base_url=settings.telegram_api_base_url,
        webhook=settings.telegram_webhook,
        request=request,
        agents=agents,
    )


def _telegram_hook(
    settings: Settings, application: TelegramApplication, inbound: Inbound
) -> LifespanHook:
    webhook_url = None  # sandbox and polling: nothing to register
    if settings.telegram_webhook:
        assert settings.public_base_url is not None
        webhook_url = settings.public_base_url.rstrip("/") + telegram_webhook.PATH
    secret = settings.telegram_webhook_secret

    def hook(_app: FastAPI) -> AbstractAsyncContextManager[None]:
        return running(
            application,
            inbound,
            webhook_url=webhook_url,
            secret_token=secret.get_secret_value() if secret is not None else None,
        )

    return hook
