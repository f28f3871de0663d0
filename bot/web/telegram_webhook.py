"""``POST /webhooks/telegram``: Telegram's updates, authenticated by the webhook's secret token.

Telegram sends the ``secret_token`` given to ``setWebhook`` in ``X-Telegram-Bot-Api-Secret-Token``
with every update. It is compared in constant time; missing or wrong (a prefix included): 403,
before the body is read. When Telegram is not configured the route answers 403 to everyone.

An authenticated update is logged (``inbound_messages``, with its raw JSON for replay) and put on
the application's queue, then acknowledged with 200 at once; the handlers do the rest. The
common case, a status question or help as plain text in a private chat
(``bot.telegram.updates.common_text_received``), is read from the JSON and handled in the
request instead, in the one transaction that logs it as handled (exactly once per
``update_id``, as on the queue's way); its answer is sent by the same code as the handlers'
(``bot.telegram.bot.send_answer``) on a task after the 200. If handling it fails, the update
stays logged unhandled and the replay handles it (``bot.telegram.retry``). Anything
else that comes with the right secret also gets 200, so Telegram does not retry it forever:
malformed JSON, updates that ``Update.de_json`` refuses (e.g. old ones without ``from.is_bot``),
update types we do not handle, and duplicates of an ``update_id`` already logged.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the route's annotations.
import asyncio
import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.ext import Application

from bot.inbound import Inbound, Received
from bot.telegram.bot import send_answer
from bot.telegram.updates import common_text_received, received_from_update
from bot.web.bodies import read_capped
from bot.web.ops import WebMetrics

logger = logging.getLogger(__name__)

PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
# Telegram's updates are a few KiB (a 4,096-character message escapes to well under 64 KiB).
MAX_BODY_BYTES = 256 * 1024


def router(
    application: Application[Any, Any, Any, Any, Any, Any] | None,
    secret: SecretStr | None,
    inbound: Inbound,
    metrics: WebMetrics,
) -> APIRouter:
    """Build the Telegram webhook router; ``application`` None means Telegram is off."""
    routes = APIRouter(include_in_schema=False)
    expected = secret.get_secret_value().encode() if secret is not None else None

    @routes.post(PATH)
    async def telegram_update(request: Request) -> Response:
        """Log one update and queue it for the handlers; 200 for any authenticated caller."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if application is None or expected is None or not hmac.compare_digest(given, expected):
            metrics.webhook(PATH, "forbidden")
            return Response(status_code=403)
        body = await read_capped(request, MAX_BODY_BYTES)
        if body is None:
            metrics.webhook(PATH, "too_large")
            return Response(status_code=413)
        outcome = await _accept(application, inbound, body)
        metrics.webhook(PATH, outcome)
        # 503 only when the update could not even be logged: Telegram retries it later.
        return Response(status_code=503 if outcome == "error" else 200)

    return routes


async def _accept(
    application: Application[Any, Any, Any, Any, Any, Any], inbound: Inbound, body: bytes
) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        logger.warning("Telegram webhook: body is not JSON; ignored")
        return "malformed"
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        logger.warning("Telegram webhook: not an update (no integer update_id); ignored")
        return "malformed"
    # Only while the application runs: it then awaits the answer's task when it stops.
    common = common_text_received(data) if application.running else None
    if common is not None:
        return await _answer_now(application, inbound, common)
    try:
        update = Update.de_json(data, application.bot)
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        logger.warning(
            "Telegram webhook: update %s unreadable (%s); ignored", data["update_id"], exc
        )
        return "malformed"
    received = received_from_update(update, payload=data)
    if received is None:
        return "ignored"
    try:
        new = await asyncio.to_thread(inbound.record, received)
    except SQLAlchemyError:
        logger.exception("Telegram update %s not logged", update.update_id)
        return "error"
    if not new:
        return "duplicate"
    await application.update_queue.put(update)
    return "queued"


async def _answer_now(
    application: Application[Any, Any, Any, Any, Any, Any], inbound: Inbound, received: Received
) -> str:
    """A status question or help: handled in the request, in the one transaction that logs it
    (instead of logging it here and handling it again from PTB's queue); the answer is sent
    after the 200, on a task the application awaits when it stops."""
    try:
        handled = await asyncio.to_thread(inbound.handle, received)
    except Exception:
        # handle() logged it unhandled if it could (the replay then handles it): make sure.
        logger.exception("Telegram update %s failed", received.provider_id)
        try:
            await asyncio.to_thread(inbound.record, received)
        except SQLAlchemyError:
            logger.exception("Telegram update %s not logged", received.provider_id)
            return "error"
        return "failed"
    if handled.duplicate:
        return "duplicate"
    application.create_task(
        send_answer(application.bot, received, handled), name=f"answer {received.provider_id}"
    )
    return "handled"


__all__ = ["PATH", "SECRET_HEADER", "router"]
