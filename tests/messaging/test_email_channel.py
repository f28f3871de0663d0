"""The SMTP e-mail channel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from messaging.channels.base import SendError
from messaging.channels.email import EmailContent, SmtpConfig, SmtpEmailChannel, render_email
from messaging.types import ChannelKind, OutgoingMessage
from tests.messaging.smtp_server import (
    Credentials,
    RecordingHandler,
    client_tls,
    free_port,
    self_signed_certificate,
    server_tls,
    start_server,
)

CONTENT = EmailContent("Dates needed", "Plain words\n", "<p>HTML <b>words</b></p>\n")
CREDENTIALS = Credentials("shop", "s3cret-pass")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def starttls_server(
    handler: RecordingHandler, certificate: tuple[Path, Path]
) -> Iterator[tuple[int, ssl.SSLContext]]:
    cert, key = certificate
    controller = start_server(handler, starttls=server_tls(cert, key), credentials=CREDENTIALS)
    yield controller.port, client_tls(cert)
    controller.stop()


def _message(address: str = "orders@supplier.example", body: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(ChannelKind.EMAIL, address, body or CONTENT.to_body(), reference="7")


def _channel(port: int, tls: ssl.SSLContext | None, **overrides: object) -> SmtpEmailChannel:
    fields: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "Our shop <orders@shop.example>",
        "security": "starttls",
        "username": CREDENTIALS.username,
        "password": CREDENTIALS.password,
        "timeout": 5.0,
        "tls_context": tls,
    }
    fields.update(overrides)
    return SmtpEmailChannel(SmtpConfig(**fields))  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_it_sends_multipart_text_and_html_over_starttls_with_auth(
    starttls_server: tuple[int, ssl.SSLContext], handler: RecordingHandler
) -> None:
    port, tls = starttls_server
    provider_id = await _channel(port, tls).send(_message())

    [received] = handler.received
    assert received.recipients == ["orders@supplier.example"]
    assert received.sender == "orders@shop.example"
    email = received.message
    assert email["Subject"] == "Dates needed"
    assert email["Message-ID"] == provider_id
    assert provider_id.startswith("<")
    assert provider_id.endswith("@shop.example>")
    assert len(provider_id) <= 64
    assert email.get_content_type() == "multipart/alternative"
    text = email.get_body(("plain",))
    html = email.get_body(("html",))
    assert text is not None
    assert text.get_content().splitlines() == ["Plain words"]
    assert html is not None
    assert "<b>words</b>" in html.get_content()


@pytest.mark.asyncio
async def test_it_refuses_to_send_without_tls_when_the_certificate_is_not_trusted(
    starttls_server: tuple[int, ssl.SSLContext], handler: RecordingHandler
) -> None:
    port, _trusted = starttls_server
    with pytest.raises(SendError) as raised:
        await _channel(port, ssl.create_default_context()).send(_message())
    assert raised.value.reason == "email_tls"
    assert not raised.value.permanent
    assert handler.received == []


@pytest.mark.asyncio
async def test_wrong_password_is_an_auth_error_that_a_fix_can_clear(
    starttls_server: tuple[int, ssl.SSLContext], handler: RecordingHandler
) -> None:
    port, tls = starttls_server
    with pytest.raises(SendError) as raised:
        await _channel(port, tls, password="wrong").send(_message())
    assert raised.value.reason == "provider_auth"
    assert not raised.value.permanent
    assert handler.received == []


@pytest.mark.asyncio
async def test_a_550_recipient_is_a_permanent_error(
    starttls_server: tuple[int, ssl.SSLContext], handler: RecordingHandler
) -> None:
    port, tls = starttls_server
    handler.replies["gone@supplier.example"] = "550 5.1.1 No such user"
    with pytest.raises(SendError) as raised:
        await _channel(port, tls).send(_message("gone@supplier.example"))
    assert raised.value.reason == "email_rejected"
    assert raised.value.permanent
    assert "550" in raised.value.detail


@pytest.mark.asyncio
async def test_a_451_recipient_is_transient_and_retried(
    starttls_server: tuple[int, ssl.SSLContext], handler: RecordingHandler
) -> None:
    port, tls = starttls_server
    handler.replies["busy@supplier.example"] = "451 4.3.0 Try again later"
    with pytest.raises(SendError) as raised:
        await _channel(port, tls).send(_message("busy@supplier.example"))
    assert raised.value.reason == "email_rejected"
    assert not raised.value.permanent

    del handler.replies["busy@supplier.example"]
    await _channel(port, tls).send(_message("busy@supplier.example"))
    assert [r.recipients for r in handler.received] == [["busy@supplier.example"]]


@pytest.mark.asyncio
async def test_implicit_tls_on_its_own_port(
    handler: RecordingHandler, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    controller = start_server(handler, implicit_tls=server_tls(cert, key))
    try:
        channel = _channel(
            controller.port, client_tls(cert), security="ssl", username=None, password=None
        )
        await channel.send(_message())
    finally:
        controller.stop()
    assert len(handler.received) == 1


@pytest.mark.asyncio
async def test_no_server_listening_is_a_transient_network_error() -> None:
    channel = _channel(free_port(), None, security="none", username=None)
    with pytest.raises(SendError) as raised:
        await channel.send(_message())
    assert raised.value.reason == "network"
    assert not raised.value.permanent


@pytest.mark.asyncio
async def test_a_body_that_is_not_an_email_is_a_dead_letter() -> None:
    with pytest.raises(SendError) as raised:
        await _channel(free_port(), None).send(_message(body="just text"))
    assert raised.value.permanent
    assert raised.value.reason == "email_bad_body"


@pytest.mark.asyncio
async def test_a_message_for_another_channel_is_refused() -> None:
    message = OutgoingMessage(ChannelKind.SMS, "+14155550100", CONTENT.to_body())
    with pytest.raises(SendError) as raised:
        await _channel(free_port(), None).send(message)
    assert raised.value.reason == "wrong_channel"


def test_the_html_part_escapes_data_and_the_subject_is_one_line() -> None:
    content = render_email(
        "supplier_request",
        "en",
        shop_name="Shop\nBcc: x@evil.example",
        support_contact="help@shop.example",
        supplier={"name": "<script>Acme</script>", "timezone": "UTC"},
        customer={"name": "Acme", "timezone": "UTC"},
        items=[],
        today=dt.date(2026, 12, 3),
        asked_on=dt.date(2026, 12, 3),
        expires_on=dt.date(2027, 1, 2),
        reminder=False,
        url="https://shop.example/s/token",
    )
    assert "\n" not in content.subject
    assert "<script>" not in content.html
    assert "&lt;script&gt;" in content.html
    assert "<script>Acme</script>" in content.text
