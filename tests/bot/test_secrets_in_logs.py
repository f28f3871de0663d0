"""No configured secret ever reaches the logs, whatever logger writes it and at what level."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from telegram import Update
from uvicorn.logging import AccessFormatter

from bot.log_redaction import redact_links
from bot.logging_setup import REDACTED, RedactSecrets, configure_logging, secrets_of
from bot.settings import Settings
from store.db import Database
from tests.bot.test_serve import CLI, _free_port, _wait_for
from tests.bot.web.telegram_harness import SECRET, link_ada, message, running_bot, settings_for
from tests.messaging.fake_providers import TELEGRAM_TOKEN, FakeProviders

TWILIO_TOKEN = "twilio-auth-token-0123456789"
API_TOKEN = "agent-api-token-0123456789"


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "telegram")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_a_secret_is_scrubbed_from_message_arguments_and_tracebacks(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=TWILIO_TOKEN,
        twilio_from_number="+14155550100",
        agent_api_token=API_TOKEN,
        database_url="postgresql+psycopg://shop:db-password-123@db.internal/shop",
    )
    configure_logging(settings)
    log = logging.getLogger("tests.secrets")
    log.warning("calling https://api.example/%s/x", TWILIO_TOKEN)
    log.error("header was Bearer " + API_TOKEN)
    try:
        raise RuntimeError("connection to db failed: password db-password-123 rejected")
    except RuntimeError:
        log.exception("database error")
    err = capsys.readouterr().err
    for secret in (TWILIO_TOKEN, API_TOKEN, "db-password-123"):
        assert secret not in err
    assert err.count(REDACTED) == 4


def test_short_values_are_not_treated_as_secrets() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "the end", None, None)
    RedactSecrets(["end"]).filter(record)
    assert record.getMessage() == "the end"


def test_the_secrets_of_the_settings_include_the_database_password() -> None:
    settings = Settings(database_url="postgresql+psycopg://u:pw-secret-9@h/db")  # type: ignore[call-arg]
    assert "pw-secret-9" in secrets_of(settings)


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_a_telegram_conversation_at_debug_level_logs_no_token_or_secret(
    committed_db: Database,
    restored_logging: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    mode: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    link_ada(committed_db)
    async with FakeProviders() as fake:
        configure_logging(settings_for(fake), level=logging.DEBUG)
        # An operator chasing a problem turns everything up. Polling goes through PTB's httpx
        # transport, which logs every Bot API URL, the token in each; webhook mode answers
        # through the aiohttp transport, which logs no URLs at all.
        logging.getLogger("httpx").setLevel(logging.DEBUG)
        logging.getLogger("telegram").setLevel(logging.DEBUG)
        overrides: dict[str, object] = {"public_base_url": None} if mode == "polling" else {}
        if mode == "polling":
            fake.telegram_updates.append(message("STATUS"))
        async with running_bot(committed_db, fake, **overrides) as bot:
            if mode == "polling":
                await bot.settled(lambda: len(bot.calls("sendMessage")) == 1)
            else:
                await bot.sent_after(message("STATUS"))
            assert (await bot.post(message("STATUS"), secret="wrong")).status_code == 403
    err = capsys.readouterr().err
    if mode == "polling":
        assert "sendMessage" in err  # the requests were logged ...
        assert REDACTED in err  # ... with the token taken out of httpx's URLs
    assert TELEGRAM_TOKEN not in err
    assert TELEGRAM_TOKEN.split(":")[1] not in err
    assert SECRET not in err


def test_a_served_order_page_request_leaves_no_token_in_any_log(
    committed_db: Database, tmp_path: Path
) -> None:
    # The real server, as `serve` runs it: uvicorn's access log at INFO, through our handler.
    token = secrets.token_urlsafe(16)  # the shape of a page token; live or not, the path is logged
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": committed_db.url, "SANDBOX_LOG": str(tmp_path / "s.jsonl")}
    for name in ("TELEGRAM_BOT_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        env.pop(name, None)
    process = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/healthz")
        for path in (f"/o/{token}", f"/o/{token}/confirm?offer=1&choice=wait"):
            with contextlib.suppress(urllib.error.HTTPError):  # 404: no such order, still logged
                urllib.request.urlopen(base + path, timeout=5).close()
        _wait_for(base + "/healthz")  # the access lines above are written by now
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert '"GET /o/<redacted> HTTP/1.1" 404' in output  # the request was logged ...
    # The access log keeps no query string (bot/web/access_log.py: "?…"), and no token.
    assert '"GET /o/<redacted>/confirm?… HTTP/1.1" 404' in output
    assert token not in output  # ... without its key


def test_link_tokens_are_redacted_on_any_logger_and_under_uvicorns_own_formatter(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(Settings())  # type: ignore[call-arg]
    token = secrets.token_urlsafe(16)
    logging.getLogger("tests.links").info("sent https://shop.example/o/%s", token)
    logging.getLogger("tests.links").info("deep link https://t.me/shopbot?start=" + token)
    # python-telegram-bot logs "Processing update %s" at DEBUG with the Update object itself.
    update = Update.de_json(message("/start " + token), None)
    logging.getLogger("tests.links").info("Processing update %s", update)
    # uvicorn's default config prints the access log with its own handler and AccessFormatter,
    # which unpacks the record's arguments: the filter on the logger must keep them a tuple.
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/o/{token}", "1.1", 200),
        None,
    )
    for f in logging.getLogger("uvicorn.access").filters:
        f.filter(record)
    line = AccessFormatter(use_colors=False).format(record)
    err = capsys.readouterr().err
    assert token not in err
    assert token not in line
    assert "/o/<redacted>" in err
    assert "?start=<redacted>" in err
    assert "/start <redacted>" in err
    assert '"GET /o/<redacted> HTTP/1.1" 200' in line
    assert redact_links("/o/assets/page.css") == "/o/assets/page.css"


def test_supplier_page_tokens_are_redacted_like_order_page_tokens() -> None:
    token = "Zq3-7wFhQ0yTn9VbV0gL1A"
    line = f'127.0.0.1:5000 - "POST /s/{token} HTTP/1.1" 303; /o/{token}'
    assert redact_links(line) == '127.0.0.1:5000 - "POST /s/<redacted> HTTP/1.1" 303; /o/<redacted>'
    assert redact_links("/s/assets/page.css") == "/s/assets/page.css"
