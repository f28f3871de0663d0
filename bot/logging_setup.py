"""Logging for the entry points: one stderr handler that never prints a configured secret.

Secrets reach log lines in ways no code review catches: httpx logs every request URL, and the
Bot API's URLs contain the bot token (``/bot<TOKEN>/sendMessage``); a driver error can quote a
connection string; an exception message can echo a header. So the handler itself scrubs every
configured secret from the formatted message and from exception text, whatever logger the
record came from, and every order-page or link token (``bot.log_redaction``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TextIO

from pydantic import SecretStr

from bot.log_redaction import RedactLinkTokens, install_on_access_log
from bot.settings import Settings
from store.db_url import parse_database_url

__all__ = ["REDACTED", "RedactSecrets", "configure_logging", "secrets_of"]

REDACTED = "[redacted]"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Shorter values would redact ordinary words; no real secret is this short.
MIN_SECRET_LENGTH = 6
# Per-request INFO lines from HTTP clients: noise at best, the bot token at worst. Alembic
# announces its dialect at INFO each time a command checks the schema: noise on stderr.
_QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "telegram.ext.ExtBot",
    "twilio.http_client",
    "alembic.runtime.migration",
    # Imported after logging is set up now that commands load lazily: its plugin set-up is noise.
    "alembic.runtime.plugins",
)


class RedactSecrets(logging.Filter):
    """Replace each secret in a record's message and exception text with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted(
            {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        scrubbed = self._scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self._scrub(record.stack_info)
        return True

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold, plus the password inside the database URL.

    Every ``SecretStr`` field counts, so a secret added to the settings later is redacted
    without anyone remembering to list it here (the SMTP password once was not)."""
    values = [
        value
        for name in type(settings).model_fields
        if isinstance(value := getattr(settings, name), SecretStr)
    ]
    found = [v.get_secret_value() for v in values]
    # SQLAlchemy's reading of the URL without importing SQLAlchemy (``store.db_url``); an
    # unparsable URL fails later, with its own message.
    parsed = parse_database_url(settings.database_url)
    if parsed is not None and parsed.password:
        found.append(parsed.password)
    return found


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(settings: Settings, level: int = logging.INFO) -> logging.Handler:
    """Send log records to stderr through the redacting filter; returns the handler.

    Called again (a second command in one process), it replaces its own earlier handler.
    """
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    # Link tokens too: a page's path is its key (``bot.log_redaction``), on every logger.
    handler.addFilter(RedactLinkTokens())
    install_on_access_log()
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_backorder_bot", False)]:
        root.removeHandler(old)
    handler._backorder_bot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
