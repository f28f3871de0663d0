"""``/simulator``: be a customer, in sandbox mode only. Their SMS thread and Telegram chat, live.

Every message typed here goes through the real webhooks: the simulator builds the request
Twilio or Telegram would send (form fields and ``X-Twilio-Signature``; an update and the secret
header), signed with the app's per-process sandbox keys, and posts it to the app itself. So
what works here works with the real providers. What the bot says comes from the sandbox log:
outbox news delivered by the dispatcher's sandbox channels, Telegram answers recorded by the
sandbox Bot API, and SMS answers (TwiML) recorded here.

Mounted only when no provider credentials are configured. Requests that change something must
be JSON (``Content-Type: application/json``), which a cross-site form cannot send.
"""

# No ``from __future__ import annotations``: FastAPI evaluates the route's annotations.
import asyncio
import datetime as dt
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from twilio.request_validator import RequestValidator

from bot.sandbox import SandboxKeys
from bot.web import telegram_webhook, twilio_sms
from bot.web.html import PAGE_HEADERS, WEB_TEMPLATES_DIR, page
from messaging.channels.sandbox import SandboxChannel, read_sandbox_log
from messaging.render import as_plain_text
from messaging.types import ChannelKind, OutgoingMessage
from store.db import Database
from store.models import Channel, Customer, InboundMessage, utcnow
from store.telegram_links import issue_link_token

PATH = "/simulator"
SHOP_NUMBER = "+15005550006"  # Twilio's magic test number: never a real customer's
# Customers with no Telegram chat yet get a simulated one, unlinked until they link it.
SIMULATED_CHAT_BASE = 8_000_000_000
MAX_CUSTOMERS = 200
_STATIC = {
    "simulator.js": "text/javascript; charset=utf-8",
    "simulator.css": "text/css; charset=utf-8",
}


class SendRequest(BaseModel):
    customer: int
    channel: Literal["sms", "telegram"]
    text: str | None = Field(default=None, max_length=4096)
    button: str | None = Field(default=None, max_length=64)


class LinkRequest(BaseModel):
    customer: int


@dataclass(frozen=True, slots=True)
class Simulator:
    """What the routes need: the database, the sandbox log and the keys to sign with."""

    db: Database
    keys: SandboxKeys
    sandbox_log: str
    shop_name: str


def router(simulator: Simulator) -> APIRouter:
    """Build the simulator's routes (the caller mounts them only in sandbox mode)."""
    routes = APIRouter(prefix=PATH, include_in_schema=False)

    @routes.get("")
    async def index() -> Response:
        """The page: pick a customer, see both threads."""
        customers = await asyncio.to_thread(_customers, simulator.db)
        return page("simulator/index.html", shop_name=simulator.shop_name, customers=customers)

    @routes.get("/static/{name}")
    async def static(name: str) -> Response:
        """The page's script and style sheet (files, so the CSP can forbid inline code)."""
        if name not in _STATIC:
            raise HTTPException(404)
        body = (WEB_TEMPLATES_DIR / "simulator" / name).read_bytes()
        return Response(body, media_type=_STATIC[name], headers=PAGE_HEADERS)

    @routes.get("/api/thread")
    async def thread(customer: int) -> JSONResponse:
        """Both threads of one customer, oldest first."""
        found = await asyncio.to_thread(_thread, simulator, customer)
        if found is None:
            raise HTTPException(404, "no such customer")
        return JSONResponse(found, headers={"Cache-Control": "no-store"})

    @routes.post("/api/send")
    async def send(body: SendRequest, request: Request) -> JSONResponse:
        """Send as the customer: a signed SMS webhook, or a Telegram update."""
        _require_json(request)
        who = await asyncio.to_thread(_customer, simulator.db, body.customer)
        if body.channel == "sms":
            status = await _send_sms(simulator, request, who, body.text or "")
        else:
            status = await _send_telegram(simulator, request, who, body.text, body.button)
        return JSONResponse({"webhook_status": status})

    @routes.post("/api/link")
    async def link(body: LinkRequest, request: Request) -> JSONResponse:
        """Open the link from the order confirmation: ``/start <token>`` from the chat."""
        _require_json(request)
        who = await asyncio.to_thread(_customer, simulator.db, body.customer)
        token = await asyncio.to_thread(_issue_token, simulator.db, who.id)
        status = await _send_telegram(simulator, request, who, f"/start {token}", None)
        return JSONResponse({"webhook_status": status})

    return routes


@dataclass(frozen=True, slots=True)
class _Who:
    id: int
    name: str
    phone: str | None
    chat_id: int
    linked: bool
    locale: str


def _require_json(request: Request) -> None:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise HTTPException(415, "JSON only")


def _customers(db: Database) -> list[dict[str, Any]]:
    with db.read_session() as session:
        rows = session.execute(
            select(Customer.id, Customer.name, Customer.phone, Customer.telegram_chat_id)
            .order_by(Customer.id)
            .limit(MAX_CUSTOMERS)
        ).all()
    return [
        {"id": r.id, "name": r.name, "phone": r.phone, "telegram": r.telegram_chat_id is not None}
        for r in rows
    ]


def _customer(db: Database, customer_id: int) -> _Who:
    with db.read_session() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise HTTPException(404, "no such customer")
        chat = customer.telegram_chat_id
        return _Who(
            customer.id,
            customer.name,
            customer.phone,
            chat if chat is not None else SIMULATED_CHAT_BASE + customer.id,
            chat is not None,
            customer.locale,
        )


def _issue_token(db: Database, customer_id: int) -> str:
    with db.session() as session:
        return issue_link_token(session, customer_id, utcnow())


def _thread(simulator: Simulator, customer_id: int) -> dict[str, Any] | None:
    try:
        who = _customer(simulator.db, customer_id)
    except HTTPException:
        return None
    addresses = {Channel.SMS: who.phone, Channel.TELEGRAM: str(who.chat_id)}
    threads: dict[str, list[dict[str, Any]]] = {"sms": [], "telegram": []}
    with simulator.db.read_session() as session:
        rows = session.execute(
            select(InboundMessage.channel, InboundMessage.body, InboundMessage.received_at)
            .where(
                or_(
                    (InboundMessage.channel == Channel.SMS)
                    & (InboundMessage.sender == (who.phone or "")),
                    (InboundMessage.channel == Channel.TELEGRAM)
                    & (InboundMessage.sender == str(who.chat_id)),
                )
            )
            .order_by(InboundMessage.id)
        ).all()
    labels: dict[str, str] = {}  # callback data -> the label the customer saw
    for record in read_sandbox_log(simulator.sandbox_log):
        message = record.message
        if addresses.get(message.channel) != message.address:
            continue
        telegram = message.channel is ChannelKind.TELEGRAM
        text = as_plain_text(message.text) if telegram else message.text
        bubble = _bubble("out", text, record.sent_at)
        bubble["parts"] = link_parts(message.text, telegram=telegram)
        bubble["buttons"] = [{"label": b.label, "data": b.data} for b in message.buttons]
        threads[message.channel.value].append(bubble)
        labels.update((b.data, b.label) for b in message.buttons)
    for row in rows:
        bubble = _bubble("in", row.body or "", row.received_at)
        if bubble["direction"] == "button":
            bubble["text"] = labels.get(bubble["text"], bubble["text"])
        threads[row.channel.value].append(bubble)
    for bubbles in threads.values():
        bubbles.sort(key=lambda b: b["at"])
    return {
        "customer": {
            "id": who.id,
            "name": who.name,
            "phone": who.phone,
            "telegram_linked": who.linked,
            "locale": who.locale,
        },
        **threads,
    }


def _bubble(direction: str, text: str, at: dt.datetime) -> dict[str, Any]:
    if text.startswith("[button] "):
        text, direction = text.removeprefix("[button] "), "button"
    parts = [{"text": text}]
    return {
        "direction": direction,
        "text": text,
        "at": at.isoformat(),
        "buttons": [],
        "parts": parts,
    }


def link_parts(text: str, *, telegram: bool) -> list[dict[str, str]]:
    """The message as text runs and links, so the chat view can make the links clickable:
    a Telegram message's ``<a href>`` (whose label alone is what a reader sees, so the URL is
    kept beside it) and an SMS's bare web addresses."""
    pattern = _TELEGRAM_LINK if telegram else _WEB_ADDRESS
    parts: list[dict[str, str]] = []
    at = 0
    for found in pattern.finditer(text):
        before = text[at : found.start()]
        if before:
            parts.append({"text": as_plain_text(before) if telegram else before})
        if telegram:
            url = html.unescape(found.group(1))
            parts.append({"text": as_plain_text(found.group(2)), "url": url})
        else:
            parts.append({"text": found.group(0), "url": found.group(0)})
        at = found.end()
    rest = text[at:]
    if rest or not parts:
        parts.append({"text": as_plain_text(rest) if telegram else rest})
    return parts


async def _post(request: Request, path: str, **kwargs: Any) -> httpx.Response:
    """Post to this very app, in process: the same routes a provider's request would reach."""
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://simulator") as client:
        return await client.post(path, **kwargs)


async def _send_sms(simulator: Simulator, request: Request, who: _Who, text: str) -> int:
    if who.phone is None:
        raise HTTPException(409, "this customer has no phone number")
    sid = "SM" + secrets.token_hex(16)
    form = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", "AC" + "0" * 32),
        ("From", who.phone),
        ("To", SHOP_NUMBER),
        ("Body", text),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("ApiVersion", "2010-04-01"),
    ]
    url = simulator.keys.public_base_url + twilio_sms.PATH
    signature = RequestValidator(simulator.keys.twilio_auth_token).compute_signature(
        url, dict(form)
    )
    response = await _post(
        request,
        twilio_sms.PATH,
        content=urlencode(form),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    reply = _twiml_text(response.text) if response.status_code == 200 else None
    if reply:
        # Twilio would send the TwiML answer as an SMS; the simulator shows it as one.
        channel = SandboxChannel(ChannelKind.SMS, log_path=simulator.sandbox_log)
        await channel.send(
            OutgoingMessage(ChannelKind.SMS, who.phone, reply, metadata={"via": "reply"})
        )
    return response.status_code


async def _send_telegram(
    simulator: Simulator, request: Request, who: _Who, text: str | None, button: str | None
) -> int:
    now = int(utcnow().timestamp())
    user = {"id": who.chat_id, "is_bot": False, "first_name": who.name.split(" ")[0] or "Customer"}
    chat = {"id": who.chat_id, "type": "private", "first_name": user["first_name"]}
    update: dict[str, Any] = {"update_id": secrets.randbelow(2**31 - 1) + 1}
    if button is not None:
        update["callback_query"] = {
            "id": secrets.token_hex(8),
            "from": user,
            "chat_instance": str(who.chat_id),
            "data": button,
            "message": {"message_id": 1, "date": now, "chat": chat, "text": "..."},
        }
    else:
        body = text or ""
        message: dict[str, Any] = {
            "message_id": secrets.randbelow(2**31 - 1) + 1,
            "date": now,
            "chat": chat,
            "from": user,
            "text": body,
        }
        if body.startswith("/"):
            command = body.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        update["message"] = message
    response = await _post(
        request,
        telegram_webhook.PATH,
        json=update,
        headers={telegram_webhook.SECRET_HEADER: simulator.keys.telegram_secret},
    )
    return response.status_code


_TELEGRAM_LINK = re.compile(r'<a href="(https?://[^"]+)">(.*?)</a>', re.S)
_WEB_ADDRESS = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)]")


def _twiml_text(document: str) -> str | None:
    try:
        root = ElementTree.fromstring(document)  # noqa: S314 - our own TwiML, not input
    except ElementTree.ParseError:
        return None
    message = root.find("Message")
    return message.text if message is not None else None
