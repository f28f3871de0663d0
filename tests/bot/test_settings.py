from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_defaults_are_sandbox_sqlite() -> None:
    settings = load_settings()
    assert settings.sandbox
    assert settings.database_url.startswith("sqlite:///var/")


def test_env_example_lists_every_setting_with_secrets_empty() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert set(values) == {name.upper() for name in Settings.model_fields}
    for secret in ("TELEGRAM_BOT_TOKEN", "TWILIO_AUTH_TOKEN", "AGENT_API_TOKEN"):
        assert values[secret] == ""


def test_env_example_values_are_valid(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    assert load_settings().shop_name == "Our shop"


def test_each_bad_value_is_reported_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Nowhere/Special")
    monkeypatch.setenv("SMS_RATE_PER_SECOND", "0")
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "12345")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    for name in ("DEFAULT_TIMEZONE", "SMS_RATE_PER_SECOND", "TWILIO_FROM_NUMBER"):
        assert name in message


def test_placeholder_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_API_TOKEN", "changeme")
    with pytest.raises(SettingsError, match="AGENT_API_TOKEN"):
        load_settings()


def test_twilio_needs_a_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "a" * 32)
    with pytest.raises(SettingsError, match="TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"):
        load_settings()


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:very-secret-token")
    settings = load_settings()
    assert "very-secret-token" not in repr(settings)
    assert not settings.sandbox


def test_policy_follows_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFER_EXPIRY_DAYS", "3")
    monkeypatch.setenv("OFFER_DEFAULT_CHOICE", "cancel")
    policy = load_settings().policy()
    assert policy.offer_ttl.days == 3
    assert policy.offer_default_choice.value == "cancel"


def test_a_webhook_secret_outside_telegrams_alphabet_is_refused() -> None:
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET"):
        load_settings(telegram_webhook_secret="has spaces and ünïcode")


def test_webhook_mode_without_a_secret_loads_for_dispatchers_but_cannot_serve() -> None:
    settings = load_settings(
        telegram_bot_token="123:abc-token-value", public_base_url="https://shop.example"
    )
    assert settings.telegram_webhook
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET is required"):
        settings.check_can_serve()
    load_settings(telegram_bot_token="123:abc-token-value").check_can_serve()  # polling: fine


def test_the_policy_knows_the_shops_time_zone_for_today(monkeypatch: pytest.MonkeyPatch) -> None:
    # Supplier dates and delay notices count days in the shop's zone (issue 12, item 7).
    monkeypatch.setenv("DEFAULT_TIMEZONE", "America/New_York")
    assert load_settings().policy().timezone == "America/New_York"


def test_the_shopify_api_version_is_pinned_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().shopify_api_version == "2026-07"
    monkeypatch.setenv("SHOPIFY_API_VERSION", "latest")
    with pytest.raises(SettingsError, match="SHOPIFY_API_VERSION"):
        load_settings()


def test_the_shopify_admin_token_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPIFY_ADMIN_TOKEN", "shpat_0123456789abcdef")
    settings = load_settings()
    assert "shpat_0123456789abcdef" not in repr(settings)
    monkeypatch.setenv("SHOPIFY_ADMIN_TOKEN", "changeme")
    with pytest.raises(SettingsError, match="SHOPIFY_ADMIN_TOKEN"):
        load_settings()
