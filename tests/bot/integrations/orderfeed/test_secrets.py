"""The order feed's and Shopify's secrets are among those the logs never print."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.logging_setup import REDACTED, RedactSecrets, secrets_of
from bot.settings import Settings

SECRETS = ("feed-secret-abcdef0123456789", "shpss_abcdef0123456789", "shpat_abcdef0123456789")


def test_the_feed_and_shopify_secrets_are_redacted_from_logs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings = Settings(
        order_feed_secret=SECRETS[0],  # type: ignore[arg-type]
        shopify_webhook_secret=SECRETS[1],  # type: ignore[arg-type]
        shopify_admin_token=SECRETS[2],  # type: ignore[arg-type]
    )
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "signed with %s, %s and %s", SECRETS, None
    )
    RedactSecrets(secrets_of(settings)).filter(record)
    assert record.getMessage() == f"signed with {REDACTED}, {REDACTED} and {REDACTED}"
