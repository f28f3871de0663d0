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


def test_every_secret_the_settings_hold_is_redacted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each ``SecretStr`` field, today's and any added later (the SMTP password was missed)."""
    from pydantic import SecretStr

    monkeypatch.chdir(tmp_path)
    fields = [
        name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)
    ]
    assert "smtp_password" in fields
    values = {name: f"secret-{name}-0123456789abcdef" for name in fields}
    # Built without validation: the secrets' companions (account ids, hosts) do not matter here.
    settings = Settings.model_construct(**{name: SecretStr(v) for name, v in values.items()})
    found = secrets_of(settings)
    assert sorted(v for v in values.values() if v in found) == sorted(values.values())
