"""Fixtures for the web app: explicit settings, the app on the test database, signed requests.

Requests are signed with twilio's own ``RequestValidator.compute_signature``, over the public
URL Twilio would have been configured with, not the test client's ``http://testserver``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select

from bot.settings import Settings
from bot.web import create_app
from store.db import Database
from store.models import Channel, Customer, OutboxMessage, OutboxStatus
from tests import twilio_signing
from tests.messaging.fake_providers import FakeProviders

TOKEN = "test-token"
PUBLIC_BASE_URL = "https://shop.example"
STATUS_PATH = "/webhooks/twilio/status"
STATUS_URL = PUBLIC_BASE_URL + STATUS_PATH
FORM = {"content-type": "application/x-www-form-urlencoded"}

Params = twilio_signing.Params


def twilio_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "public_base_url": PUBLIC_BASE_URL,
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_auth_token": TOKEN,
        "twilio_from_number": "+14155550100",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def sign(url: str, params: Params, token: str = TOKEN) -> str:
    """Twilio's signature over ``url`` and ``params`` with the test auth token."""
    return twilio_signing.sign(url, params, token)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    return twilio_settings()


@pytest.fixture
def app(settings: Settings, committed_db: Database) -> FastAPI:
    return create_app(settings, committed_db)


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


PostStatus = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def post_status(client: httpx.AsyncClient) -> PostStatus:
    """POST a status callback signed the way Twilio signs it."""

    async def post(params: Params, *, query: str = "") -> httpx.Response:
        url = STATUS_URL + (f"?{query}" if query else "")
        path = STATUS_PATH + (f"?{query}" if query else "")
        headers = {**FORM, "X-Twilio-Signature": sign(url, params)}
        return await client.post(path, content=urlencode(list(params)), headers=headers)

    return post


@pytest.fixture
def sent_sid(committed_db: Database) -> str:
    """The Twilio MessageSid of one SMS in the outbox, accepted by Twilio (``sent``)."""
    sid = "SM" + secrets.token_hex(16)
    with committed_db.session() as session:
        customer = Customer(
            name="Ada Lovelace", phone="+1415555" + f"{secrets.randbelow(10**4):04d}"
        )
        session.add(customer)
        session.flush()
        session.add(
            OutboxMessage(
                dedupe_key=f"test:{sid}",
                customer_id=customer.id,
                channel=Channel.SMS,
                address=customer.phone,
                message="backordered",
                locale="en",
                body="Your order is on backorder.",
                status=OutboxStatus.SENT,
                attempts=1,
                provider_id=sid,
            )
        )
    return sid


StatusOf = Callable[[str], tuple[OutboxStatus, str | None]]


@pytest.fixture
def status_of(committed_db: Database) -> StatusOf:
    """The outbox row's status and last error, read fresh from the database."""

    def read(sid: str) -> tuple[OutboxStatus, str | None]:
        with committed_db.read_session() as session:
            row = session.execute(
                select(OutboxMessage.status, OutboxMessage.last_error).where(
                    OutboxMessage.provider_id == sid
                )
            ).one()
            return row.status, row.last_error

    return read


# --- the Telegram tests' fixtures (the harness is tests/bot/web/telegram_harness.py) ----------


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeProviders]:
    """The fake Telegram Bot API and Twilio on 127.0.0.1, recording what they get."""
    async with FakeProviders() as providers:
        yield providers


@pytest.fixture
def linked(committed_db: Database) -> None:
    """Ada, her Telegram chat linked, waiting for MUG in order A1001 (placed now)."""
    # Imported here: the harness imports this module (client_for).
    from tests.bot.web.telegram_harness import link_ada

    link_ada(committed_db)
