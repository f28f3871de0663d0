"""One typed settings object, read from the environment and ``.env`` at the entry points only.

Everything below the entry points gets plain constructor arguments. Invalid values stop the
program at start-up with a message naming the variable (see ``load_settings``).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.choices import OfferChoice
from store.db_url import DEFAULT_DATABASE_URL
from store.policy import Policy

# Where ``backorder-bot serve`` listens by default (``--host 127.0.0.1 --port 8000``): the base of
# order page links when PUBLIC_BASE_URL is not set, as on a developer's machine or in the sandbox.
LOCAL_BASE_URL = "http://127.0.0.1:8000"
# Without ORDER_LINK_SECRET or any provider secret (the sandbox), links are still unguessable:
# their randomness is the nonce stored with them; the key only protects against a database leak.
SANDBOX_ORDER_LINK_SECRET = b"backorder-bot sandbox order page key"

# Values people copy from examples and forget to change: refused rather than trusted.
PLACEHOLDERS = frozenset({"changeme", "change-me", "secret", "xxx", "your-token-here", "todo"})

PositiveRate = Annotated[float, Field(gt=0)]

# What Telegram accepts as setWebhook's secret_token.
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_SHOPIFY_VERSION = re.compile(r"20[0-9]{2}-(01|04|07|10)")


def root_path_prefix(value: str) -> str:
    """``/bot`` for ``/bot/``; empty for none; ``ValueError`` for anything but a plain path."""
    prefix = value.strip().rstrip("/")
    if prefix and not _PATH_PREFIX.fullmatch(prefix):
        raise ValueError(
            f"{value!r} is not a path prefix such as /bot (a leading slash, no scheme or host, "
            "no ? or #)"
        )
    return prefix


_PATH_PREFIX = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+")


_DEFAULT_REGION = "US"


class SettingsError(Exception):
    """Start-up configuration is invalid; the message names each bad variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    public_base_url: str | None = None
    # Behind a proxy: the path prefix the app is served under (``/bot``), kept in the path by
    # the proxy or stripped; and the proxies whose X-Forwarded-For/-Proto uvicorn believes.
    root_path: str = ""
    forwarded_allow_ips: str = "127.0.0.1"

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    # The bot's @username, for the deep links that link a chat (t.me/<username>?start=<token>).
    telegram_bot_username: str | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"

    agent_api_token: SecretStr | None = None
    # Key for the order page's links and forms (see ``order_link_secret_bytes``).
    order_link_secret: SecretStr | None = None

    # Shopify (``bot.integrations.shopify``): the app's webhook signing secret, and the shop
    # (``name.myshopify.com``) whose webhooks are accepted; empty: any shop signing with it.
    shopify_webhook_secret: SecretStr | None = None
    shopify_shop_domain: str | None = None
    # Write-back through the Admin GraphQL API (``bot.integrations.shopify.writeback``): the custom
    # app's Admin API access token (``shpat_...``), the pinned API version, and where the API is
    # (empty: ``https://<SHOPIFY_SHOP_DOMAIN>``; a local fake in tests).
    shopify_admin_token: SecretStr | None = None
    shopify_api_version: str = "2026-07"
    shopify_api_base_url: str | None = None
    # The signed order feed (``bot.integrations.orderfeed``, ``POST /webhooks/orders``): the secret
    # shared with the shop's platform, and how far a request's timestamp may be from our clock.
    order_feed_secret: SecretStr | None = None
    order_feed_replay_window_seconds: int = Field(default=300, ge=30, le=3600)

    # E-mail to suppliers (``messaging.channels.email``); no SMTP_HOST: the sandbox records them.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_timeout_seconds: PositiveRate = 30.0
    email_rate_per_second: PositiveRate = 2.0
    # Asking suppliers for dates (``store.supplier_requests``).
    supplier_reminder_days: int = Field(default=3, ge=1)
    supplier_link_days: int = Field(default=30, ge=1)

    shop_name: str = "Our shop"
    support_contact: str = "support@example.com"
    default_locale: str = "en"
    default_timezone: str = "UTC"
    default_phone_region: str = _DEFAULT_REGION

    quiet_hours_start: dt.time = dt.time(21, 0)
    quiet_hours_end: dt.time = dt.time(8, 0)
    telegram_rate_per_second: PositiveRate = 30.0
    telegram_per_chat_per_second: PositiveRate = 1.0
    sms_rate_per_second: PositiveRate = 1.0
    # Twilio drops an SMS still queued after this long instead of delivering it hours late.
    sms_validity_period_seconds: int = Field(default=14_400, ge=1, le=36_000)
    sandbox_log: str = "var/sandbox.jsonl"
    dispatch_workers: int = Field(default=1, ge=1)

    eta_change_threshold_days: int = Field(default=1, ge=1)
    default_discount_percent: int = Field(default=10, ge=0, le=100)
    offer_expiry_days: int = Field(default=7, ge=1)
    offer_default_choice: OfferChoice = OfferChoice.WAIT
    alternative_price_band_percent: int = Field(default=20, ge=0, le=100)
    delay_notice_days: int = Field(default=30, ge=1)

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Madrid") from None
        return value

    @field_validator("default_locale")
    @classmethod
    def _supported_locale(cls, value: str) -> str:
        if value.split("-")[0].lower() not in ("en", "es"):
            raise ValueError(f"{value!r} is not supported; use en or es")
        return value

    @field_validator("default_phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value.upper() == _DEFAULT_REGION:
            return _DEFAULT_REGION  # phonenumbers costs a command 30 ms to import; US is one
        import phonenumbers

        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not an ISO 3166 region code such as US or ES")
        return value.upper()

    @field_validator("twilio_from_number")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        import phonenumbers

        try:
            parsed = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            raise ValueError(f"{value!r} is not a phone number in E.164 form, e.g. +14155550100")
        return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))

    @field_validator("root_path")
    @classmethod
    def _path_prefix(cls, value: str) -> str:
        return root_path_prefix(value)

    @field_validator("shopify_api_version")
    @classmethod
    def _shopify_version(cls, value: str) -> str:
        # Shopify's stable versions are quarterly, YYYY-MM (``supported-versions-schema.json``).
        if not _SHOPIFY_VERSION.fullmatch(value):
            raise ValueError(f"{value!r} is not a Shopify API version such as 2026-07")
        return value

    @field_validator(
        "public_base_url", "telegram_api_base_url", "twilio_api_base_url", "shopify_api_base_url"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with http:// or https://")
        return value.rstrip("/")

    @field_validator(
        "telegram_bot_token",
        "telegram_webhook_secret",
        "twilio_auth_token",
        "agent_api_token",
        "order_link_secret",
        "shopify_webhook_secret",
        "smtp_password",
        "shopify_admin_token",
        "order_feed_secret",
    )
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if value.get_secret_value().strip().lower() in PLACEHOLDERS:
            raise ValueError("is a placeholder value; set the real secret or leave it empty")
        return value

    @model_validator(mode="after")
    def _twilio_complete(self) -> Self:
        twilio = (self.twilio_account_sid, self.twilio_auth_token)
        if any(twilio) and not all(twilio):
            raise ValueError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set together")
        if all(twilio) and not (self.twilio_from_number or self.twilio_messaging_service_sid):
            raise ValueError(
                "set TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID to send SMS with Twilio"
            )
        return self

    @field_validator("smtp_host", "smtp_username", "smtp_from")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _smtp_complete(self) -> Self:
        if self.smtp_host is None:
            return self
        if self.smtp_from is None or "@" not in self.smtp_from:
            raise ValueError(
                "SMTP_FROM must be the sender's e-mail address when SMTP_HOST is set, "
                "e.g. Our shop <orders@shop.example>"
            )
        if self.smtp_password is not None and self.smtp_username is None:
            raise ValueError("SMTP_PASSWORD is set without SMTP_USERNAME")
        return self

    @model_validator(mode="after")
    def _telegram_webhook_secret(self) -> Self:
        secret = self.telegram_webhook_secret
        if secret is not None and not _TELEGRAM_SECRET.fullmatch(secret.get_secret_value()):
            raise ValueError(
                "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        return self

    def check_can_serve(self) -> None:
        """Raise ``SettingsError`` for what only the web app needs (dispatchers do without)."""
        if self.telegram_webhook and self.telegram_webhook_secret is None:
            # Without it anyone who finds the URL could post updates as any customer.
            raise SettingsError(
                "TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_BOT_TOKEN and PUBLIC_BASE_URL"
                " are set (Telegram webhook mode); e.g. python -c 'import secrets;"
                " print(secrets.token_urlsafe(32))'"
            )

    @property
    def telegram_webhook(self) -> bool:
        """Telegram delivers updates to our webhook (else we poll for them, for local runs)."""
        return self.telegram_bot_token is not None and self.public_base_url is not None

    @property
    def sandbox(self) -> bool:
        """No provider credentials: messages go to the sandbox channels, nothing leaves."""
        return self.telegram_bot_token is None and self.twilio_account_sid is None

    @property
    def order_page_base_url(self) -> str:
        """The base of order page links: PUBLIC_BASE_URL, else where ``serve`` listens locally."""
        return self.public_base_url or LOCAL_BASE_URL

    def order_link_secret_bytes(self) -> bytes:
        """The secret order page tokens and their forms are keyed with.

        ORDER_LINK_SECRET when set; else the provider secrets, which every non-sandbox setup
        has (changing them re-issues each order's link with its next message, see
        ``store.order_links``); else, in the sandbox, a fixed development key.
        """
        if self.order_link_secret is not None:
            return self.order_link_secret.get_secret_value().encode()
        providers = [
            secret.get_secret_value()
            for secret in (self.twilio_auth_token, self.telegram_bot_token)
            if secret is not None
        ]
        if providers:
            return "\n".join(providers).encode()
        return SANDBOX_ORDER_LINK_SECRET

    def policy(self) -> Policy:
        return Policy(
            eta_threshold_days=self.eta_change_threshold_days,
            default_discount_percent=self.default_discount_percent,
            offer_ttl=dt.timedelta(days=self.offer_expiry_days),
            offer_default_choice=self.offer_default_choice,
            alternative_price_band_percent=self.alternative_price_band_percent,
            delay_notice_days=self.delay_notice_days,
            timezone=self.default_timezone,
        )


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            name = field.upper() if error["loc"] else "configuration"
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(problems)) from None
