"""Behind a reverse proxy: a path prefix (``ROOT_PATH``) kept or stripped by the proxy, links
that carry it, and trailing-slash webhook URLs that answer 404 instead of a redirect to the
app's internal address."""

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from typer.testing import CliRunner

from bot.cli import main as cli
from bot.cli import serving
from bot.settings import Settings, SettingsError
from bot.web import create_app
from bot.web.path_prefix import PathPrefix
from store.agents import add_agent
from store.db import Database
from store.models import utcnow
from tests.bot.web.conftest import FORM, sign, twilio_settings

PREFIX = "/bot"
PUBLIC = "https://shop.example" + PREFIX
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _client(settings: Settings, db: Database, *, strip: str = "") -> httpx.AsyncClient:
    """A browser at https://shop.example; ``strip``: the proxy removes that prefix."""
    app = create_app(settings, db)

    async def proxy(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(strip + "/"):
            path = scope["path"][len(strip) :]
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await app(scope, receive, send)

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=proxy if strip else app),
        base_url="https://shop.example",
    )


@pytest_asyncio.fixture(params=["kept", "stripped"])
async def proxied(
    committed_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a proxy at https://shop.example/bot that keeps or strips the prefix."""
    monkeypatch.chdir(tmp_path)
    with committed_db.session() as session:
        add_agent(session, "ada", PASSWORD, now=utcnow())
    settings = twilio_settings(public_base_url=PUBLIC, root_path=PREFIX)
    strip = PREFIX if request.param == "stripped" else ""
    async with _client(settings, committed_db, strip=strip) as client:
        yield client


@pytest.mark.asyncio
async def test_pages_link_with_the_prefix_whether_the_proxy_keeps_it_or_not(
    proxied: httpx.AsyncClient,
) -> None:
    path = PREFIX + "/agent/login"
    page = await proxied.get(path)
    assert page.status_code == 200
    assert 'action="/bot/agent/login"' in page.text
    found = _CSRF.search(page.text)
    assert found is not None
    signed = await proxied.post(
        path, data={"csrf": found.group(1), "username": "ada", "password": PASSWORD}
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/bot/agent"
    board = await proxied.get(signed.headers["location"])  # the session cookie comes back
    assert board.status_code == 200
    assert 'href="/bot/agent/broadcasts/new"' in board.text


@pytest.mark.asyncio
async def test_a_signed_webhook_through_a_prefix_keeping_proxy_is_accepted(
    proxied: httpx.AsyncClient,
) -> None:
    params = [("MessageSid", "SM" + "0" * 32), ("MessageStatus", "delivered")]
    url = PUBLIC + "/webhooks/twilio/status"
    headers = {**FORM, "X-Twilio-Signature": sign(url, params)}
    response = await proxied.post(
        PREFIX + "/webhooks/twilio/status", content=urlencode(params), headers=headers
    )
    assert response.status_code in (200, 204), response.text


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path", ["/webhooks/twilio/sms/", "/webhooks/twilio/status/", "/webhooks/telegram/"]
)
async def test_a_trailing_slash_webhook_is_404_never_a_redirect(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path: str
) -> None:
    monkeypatch.chdir(tmp_path)
    async with _client(twilio_settings(), committed_db) as client:
        response = await client.post(path, content="Body=hi", headers=FORM)
    assert response.status_code == 404
    assert "location" not in response.headers
    assert "slash" in response.json()["detail"]


@pytest.mark.parametrize(("value", "root"), [("", ""), ("/bot", "/bot"), ("/bot/", "/bot")])
def test_root_path_setting_is_normalised(value: str, root: str) -> None:
    assert Settings(root_path=value).root_path == root  # type: ignore[call-arg]


@pytest.mark.parametrize("value", ["bot", "/bot?x=1", "https://shop.example/bot"])
def test_a_root_path_that_is_not_a_path_is_refused(value: str) -> None:
    with pytest.raises((SettingsError, ValueError)):
        Settings(root_path=value)  # type: ignore[call-arg]


def test_serve_passes_the_root_path_and_the_trusted_proxies(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", committed_db.url)
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5")
    seen: dict[str, Any] = {}

    class FakeServer:
        def __init__(self, config: Any) -> None:
            seen["config"] = config

        def run(self) -> None:
            seen["ran"] = True

    monkeypatch.setattr(serving.uvicorn, "Server", FakeServer)

    result = CliRunner().invoke(
        cli.app, ["serve", "--no-dispatch", "--root-path", "/shop/"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert _prefix_of(config.app) == "/shop"
    assert config.forwarded_allow_ips == "10.0.0.5"
    # uvicorn's own root_path would prepend the prefix again to a path the proxy kept.
    assert config.root_path == ""
    assert seen["ran"]


def _prefix_of(app: Any) -> str:
    (prefix,) = [m.kwargs["prefix"] for m in app.user_middleware if m.cls is PathPrefix]
    return str(prefix)
