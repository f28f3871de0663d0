"""E-mail delivery over SMTP (stdlib ``smtplib`` in a worker thread), for suppliers.

A message's outbox body is an :class:`EmailContent` as JSON (subject, text, HTML), rendered from
``templates/email/<message>/`` by :func:`render_email`; the channel sends it as
``multipart/alternative`` and returns the ``Message-ID`` it gave the message as the provider id.

SMTP errors are translated into :class:`SendError` in one place, :func:`to_send_error`:
5xx answers and refused recipients are permanent (the dispatcher dead-letters the row), 4xx
answers, timeouts and broken connections are transient (retried with back-off). A connection
per message: suppliers get a few e-mails a day, and a pooled SMTP session would have to be
kept alive (servers drop idle ones after a minute or so) for nothing.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import smtplib
import ssl
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from typing import Any, Literal

from messaging.channels.base import SendError, check_kind
from messaging.render import ENVIRONMENT, locale_chain
from messaging.types import ChannelKind, OutgoingMessage

Security = Literal["starttls", "ssl", "none"]
# provider_id is a 64-character column; a Message-ID is "<20 hex digits@domain>".
_PROVIDER_ID_MAX = 64


@dataclass(frozen=True, slots=True)
class EmailContent:
    """What one e-mail says, as stored in the outbox row's body."""

    subject: str
    text: str
    html: str

    def to_body(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_body(cls, body: str) -> EmailContent:
        """The content of an outbox body; ``ValueError`` when it is not one."""
        data = json.loads(body)
        if not isinstance(data, dict) or not all(
            isinstance(data.get(key), str) for key in ("subject", "text", "html")
        ):
            raise ValueError("not an e-mail body: needs subject, text and html strings")
        return cls(data["subject"], data["text"], data["html"])


def render_email(message: str, locale: str, /, **context: Any) -> EmailContent:
    """Render ``templates/email/<message>/{subject,body}.<locale>.{txt,html}`` (falls back to en).

    The HTML part is autoescaped (its extension), the subject and text parts are not.
    """
    context["locale"] = locale

    def render(pattern: str) -> str:
        names = [f"email/{message}/{pattern.format(c)}" for c in locale_chain(locale)]
        return ENVIRONMENT.select_template(names).render(context).strip()

    subject = " ".join(render("subject.{}.txt").split())  # one line: no header injection
    return EmailContent(subject, render("body.{}.txt") + "\n", render("body.{}.html") + "\n")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to submit mail. ``sender`` is the From address (``Name <addr>`` allowed)."""

    host: str
    port: int
    sender: str
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    # Trust for the server's certificate; None: the system's CAs (tests pass their own).
    tls_context: ssl.SSLContext | None = None


class SmtpEmailChannel:
    """Sends :class:`EmailContent` bodies through one SMTP submission server."""

    kind = ChannelKind.EMAIL

    def __init__(self, config: SmtpConfig, *, concurrency: int = 4) -> None:
        name, address = parseaddr(config.sender)
        if "@" not in address:
            raise ValueError("SMTP_FROM must be an e-mail address, e.g. Shop <orders@shop.example>")
        self._config = config
        self._from = formataddr((name, address)) if name else address
        self._domain = address.rsplit("@", 1)[1]
        self._slots = asyncio.Semaphore(concurrency)

    async def send(self, message: OutgoingMessage) -> str:
        """Submit the e-mail to ``message.address``; return its ``Message-ID``."""
        check_kind(self.kind, message)
        try:
            content = EmailContent.from_body(message.text)
        except ValueError as exc:
            raise SendError("email_bad_body", str(exc), permanent=True) from exc
        email = self._build(message.address, content)
        async with self._slots:
            try:
                await asyncio.to_thread(self._submit, email, message.address)
            except (smtplib.SMTPException, OSError) as exc:
                raise to_send_error(exc) from exc
        return str(email["Message-ID"])

    async def close(self) -> None:
        """Nothing held between sends; present for the channel contract."""

    def _build(self, to: str, content: EmailContent) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._from
        email["To"] = to
        email["Subject"] = content.subject
        email["Message-ID"] = self._message_id()
        email.set_content(content.text)
        email.add_alternative(content.html, subtype="html")
        return email

    def _message_id(self) -> str:
        message_id = f"<{secrets.token_hex(10)}@{self._domain}>"
        if len(message_id) > _PROVIDER_ID_MAX:
            # A sender domain this long is rare; the id must still fit the provider_id column.
            message_id = f"<{secrets.token_hex(10)}@{self._domain[-(_PROVIDER_ID_MAX - 24) :]}>"
        return message_id

    def _submit(self, email: EmailMessage, to: str) -> None:
        """One SMTP session: connect, secure, authenticate, send, quit (in a worker thread)."""
        config = self._config
        context = config.tls_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if config.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with smtp:
            smtp.ehlo()
            if config.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.username:
                smtp.login(config.username, config.password or "")
            refused = smtp.send_message(email, to_addrs=[to])
        if refused:
            # Some servers accept DATA and still list refused recipients.
            raise smtplib.SMTPRecipientsRefused(refused)


def to_send_error(exc: BaseException) -> SendError:
    """Translate an ``smtplib`` or socket error into the channel contract's :class:`SendError`."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        detail = "; ".join(f"{code} {_text(text)}" for code, text in exc.recipients.values())
        return SendError("email_rejected", detail, permanent=all(code >= 500 for code in codes))
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # Not permanent: bad credentials fail every message alike; fixed, the queue still goes.
        return SendError("provider_auth", f"{exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        # The From address is the shop's configuration, not this message's fault.
        return SendError("email_sender_refused", f"{exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = f"{exc.smtp_code} {_text(exc.smtp_error)}"
        if exc.smtp_code >= 500:
            return SendError("email_rejected", detail, permanent=True)
        return SendError("email_deferred", detail)
    if isinstance(exc, TimeoutError):
        return SendError("timeout", "no answer from the SMTP server in time")
    if isinstance(exc, ssl.SSLError | smtplib.SMTPNotSupportedError):
        return SendError("email_tls", f"{type(exc).__name__}: {exc}")
    # Connection refused or broken, server hung up. A duplicate request to a supplier costs
    # far less than a lost one, so these are retried like any other transient failure.
    return SendError("network", f"{type(exc).__name__}: {exc}")


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return " ".join(text.split())[:200]
