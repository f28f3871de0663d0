"""TwilioSmsChannel: what goes on the wire, and how every Twilio failure is translated.

Unit tests give the twilio ``Client`` a fake async ``HttpClient`` (the library's own seam, as
twilio-python's ``tests/holodeck.py`` does) answering with ``fixtures/twilio``; end-to-end
tests use the real transport against the fake Messages API in ``fake_providers``, which checks
the form fields against Twilio's published OpenAPI document.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

from messaging.channels import Channel, SendError
from messaging.channels.sms import TwilioSmsChannel, to_send_error
from messaging.types import ChannelKind, OutgoingMessage
from tests.messaging.fake_providers import (
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_MESSAGING_SERVICE_SID,
    CannedAnswer,
    FakeProviders,
    load_answer,
)

FROM = "+15005550006"
TO = "+15551234567"
STATUS_URL = "https://shop.example.com/webhooks/twilio/status"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
CREATED = load_answer("twilio/message_created.json")


class FakeTwilioHttp(AsyncHttpClient):  # type: ignore[misc]
    """Answers each request with the next canned answer (or raises it), recording the call."""

    def __init__(self, *answers: CannedAnswer | BaseException, delay: float = 0.0) -> None:
        super().__init__(logging.getLogger("tests.fake_twilio"), True, None)
        self.answers = list(answers)
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.closed = False

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self.requests.append({"method": method, "url": url, "data": data, "auth": auth})
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return Response(answer.status, answer.payload().decode(), answer.headers)

    async def close(self) -> None:
        self.closed = True


def sms(text: str = "Your order 1001 ships on 12 Dec.", to: str = TO) -> OutgoingMessage:
    return OutgoingMessage(ChannelKind.SMS, to, text)


def make_channel(http: Any = None, **kwargs: Any) -> TwilioSmsChannel:
    kwargs.setdefault("from_number", FROM)
    return TwilioSmsChannel(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, http_client=http, **kwargs)


async def send_with(*answers: CannedAnswer | BaseException, **kwargs: Any) -> FakeTwilioHttp:
    http = FakeTwilioHttp(*answers)
    channel = make_channel(http, **kwargs)
    try:
        await channel.send(sms())
    finally:
        await channel.close()
    return http


async def error_for(answer: CannedAnswer | BaseException, **kwargs: Any) -> SendError:
    with pytest.raises(SendError) as caught:
        await send_with(answer, **kwargs)
    return caught.value


@pytest.mark.asyncio
async def test_it_posts_to_body_from_status_callback_and_validity_period() -> None:
    http = await send_with(CREATED, status_callback_url=STATUS_URL, validity_period=3600)

    [request] = http.requests
    assert (request["method"], request["url"]) == ("POST", MESSAGES_URL)
    assert request["auth"] == (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
    assert request["data"] == {
        "To": TO,
        "From": FROM,
        "Body": "Your order 1001 ships on 12 Dec.",
        "StatusCallback": STATUS_URL,
        "ValidityPeriod": 3600,
    }


@pytest.mark.asyncio
async def test_it_sends_through_a_messaging_service_without_from() -> None:
    http = await send_with(CREATED, from_number=None, messaging_service_sid="MG" + "1" * 32)

    data = http.requests[0]["data"]
    assert data["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in data


@pytest.mark.asyncio
async def test_it_leaves_out_what_is_not_configured() -> None:
    http = await send_with(CREATED)

    assert set(http.requests[0]["data"]) == {"To", "From", "Body"}


@pytest.mark.asyncio
async def test_it_returns_the_message_sid() -> None:
    http = FakeTwilioHttp(CREATED)
    channel = make_channel(http)

    sid = await channel.send(sms())
    await channel.close()

    assert sid == "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


@pytest.mark.asyncio
async def test_region_and_edge_in_the_environment_do_not_move_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")

    http = await send_with(CREATED, base_url="http://127.0.0.1:8999")

    assert http.requests[0]["url"] == (
        f"http://127.0.0.1:8999/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
    )


@pytest.mark.asyncio
async def test_close_closes_the_http_client() -> None:
    http = await send_with(CREATED)

    assert http.closed


@pytest.mark.asyncio
async def test_it_refuses_a_telegram_message_without_sending() -> None:
    http = FakeTwilioHttp()
    channel = make_channel(http)
    with pytest.raises(SendError) as caught:
        await channel.send(OutgoingMessage(ChannelKind.TELEGRAM, "42", "hi"))

    assert (caught.value.reason, http.requests) == ("wrong_channel", [])


def test_it_needs_a_sender() -> None:
    with pytest.raises(ValueError, match="from_number or messaging_service_sid"):
        TwilioSmsChannel(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)


def test_it_rejects_a_validity_period_twilio_would_refuse() -> None:
    with pytest.raises(ValueError, match="validity_period"):
        make_channel(validity_period=36001)


def test_it_satisfies_the_channel_protocol() -> None:
    assert isinstance(make_channel(), Channel)


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("twilio/opted_out_21610.json", "sms_opted_out"),
        ("twilio/invalid_number_21211.json", "sms_invalid_number"),
        ("twilio/not_mobile_21614.json", "sms_invalid_number"),
        ("twilio/region_disabled_21408.json", "sms_region_disabled"),
        ("twilio/queue_overflow_21611.json", "sms_bad_request"),
    ],
)
@pytest.mark.asyncio
async def test_it_reports_permanent_failures(fixture: str, reason: str) -> None:
    error = await error_for(load_answer(fixture))

    assert (error.reason, error.permanent, error.outcome_unknown) == (reason, True, False)


@pytest.mark.asyncio
async def test_it_passes_on_retry_after_for_429() -> None:
    error = await error_for(load_answer("twilio/too_many_requests_20429.json"))

    assert (error.reason, error.retry_after, error.permanent) == ("rate_limited", 3.0, False)


@pytest.mark.asyncio
async def test_a_429_without_retry_after_leaves_the_wait_to_the_dispatcher() -> None:
    answer = load_answer("twilio/too_many_requests_20429.json")

    error = await error_for(CannedAnswer(answer.status, answer.body))

    assert (error.reason, error.retry_after) == ("rate_limited", None)


@pytest.mark.asyncio
async def test_it_treats_server_errors_as_transient() -> None:
    error = await error_for(load_answer("twilio/internal_error.json"))

    assert (error.reason, error.permanent, error.outcome_unknown) == (
        "provider_error",
        False,
        False,
    )


@pytest.mark.asyncio
async def test_a_gateway_timeout_leaves_the_outcome_unknown() -> None:
    error = await error_for(CannedAnswer(504, "<html>Gateway Timeout</html>"))

    assert (error.reason, error.outcome_unknown) == ("provider_error", True)


@pytest.mark.asyncio
async def test_it_treats_rejected_credentials_as_transient_configuration_trouble() -> None:
    error = await error_for(load_answer("twilio/auth_failed_20003.json"))

    assert (error.reason, error.permanent) == ("provider_auth", False)


@pytest.mark.asyncio
async def test_a_send_that_outlives_the_timeout_leaves_the_outcome_unknown() -> None:
    http = FakeTwilioHttp(CREATED, delay=5.0)
    channel = make_channel(http, timeout=0.05)

    with pytest.raises(SendError) as caught:
        await channel.send(sms())
    await channel.close()

    assert (caught.value.reason, caught.value.outcome_unknown) == ("timeout", True)


@pytest.mark.asyncio
async def test_a_dropped_connection_leaves_the_outcome_unknown() -> None:
    error = await error_for(aiohttp.ServerDisconnectedError())

    assert (error.reason, error.outcome_unknown) == ("network", True)


@pytest.mark.asyncio
async def test_an_unreadable_success_leaves_the_outcome_unknown() -> None:
    error = await error_for(CannedAnswer(201, "<html>created?</html>"))

    assert (error.reason, error.outcome_unknown) == ("provider_error", True)


def test_a_connect_timeout_is_known_not_sent() -> None:
    error = to_send_error(aiohttp.ConnectionTimeoutError())

    assert (error.reason, error.outcome_unknown) == ("timeout", False)


# --- end to end: real transport, fake Messages API over HTTP --------------------------------


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeProviders]:
    async with FakeProviders() as providers:
        yield providers


@pytest_asyncio.fixture
async def channel(fake: FakeProviders) -> AsyncIterator[TwilioSmsChannel]:
    real = TwilioSmsChannel(
        TWILIO_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN,
        from_number=FROM,
        base_url=fake.twilio_base_url,
        status_callback_url=STATUS_URL,
        validity_period=600,
    )
    yield real
    await real.close()


@pytest.mark.asyncio
async def test_end_to_end_send_follows_the_messages_api_spec(
    fake: FakeProviders, channel: TwilioSmsChannel
) -> None:
    sid = await channel.send(sms("¿Dónde está mi pedido? Ships 12 Dec."))

    [sent] = fake.sent("twilio")
    assert fake.violations == []
    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    assert sent.fields == {
        "To": TO,
        "From": FROM,
        "Body": "¿Dónde está mi pedido? Ships 12 Dec.",
        "StatusCallback": STATUS_URL,
        "ValidityPeriod": "600",
    }


@pytest.mark.asyncio
async def test_end_to_end_messaging_service_follows_the_spec(fake: FakeProviders) -> None:
    channel = TwilioSmsChannel(
        TWILIO_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN,
        messaging_service_sid=TWILIO_MESSAGING_SERVICE_SID,
        base_url=fake.twilio_base_url,
    )
    await channel.send(sms())
    await channel.close()

    assert fake.violations == []
    assert fake.sent("twilio")[0].fields["MessagingServiceSid"] == TWILIO_MESSAGING_SERVICE_SID


@pytest.mark.asyncio
async def test_end_to_end_opt_out_is_permanent(
    fake: FakeProviders, channel: TwilioSmsChannel
) -> None:
    fake.fail(TO, "twilio/opted_out_21610.json")

    with pytest.raises(SendError) as caught:
        await channel.send(sms())

    assert (caught.value.reason, caught.value.permanent) == ("sms_opted_out", True)


@pytest.mark.asyncio
async def test_end_to_end_retry_after_travels_from_the_header(
    fake: FakeProviders, channel: TwilioSmsChannel
) -> None:
    fake.fail(TO, "twilio/too_many_requests_20429.json")

    with pytest.raises(SendError) as caught:
        await channel.send(sms())

    assert (caught.value.reason, caught.value.retry_after) == ("rate_limited", 3.0)


@pytest.mark.asyncio
async def test_end_to_end_concurrent_retry_afters_do_not_mix(fake: FakeProviders) -> None:
    limited, fine = "+15550000001", "+15550000002"
    fake.fail(limited, "twilio/too_many_requests_20429.json")
    fake.fail(fine, CannedAnswer(429, {"code": 20429, "message": "Too Many Requests"}))
    channel = TwilioSmsChannel(
        TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, from_number=FROM, base_url=fake.twilio_base_url
    )

    results = await asyncio.gather(
        channel.send(sms(to=limited)), channel.send(sms(to=fine)), return_exceptions=True
    )
    await channel.close()

    assert [r.retry_after for r in results if isinstance(r, SendError)] == [3.0, None]


@pytest.mark.asyncio
async def test_end_to_end_wrong_credentials_are_refused(fake: FakeProviders) -> None:
    channel = TwilioSmsChannel(
        TWILIO_ACCOUNT_SID, "wrong", from_number=FROM, base_url=fake.twilio_base_url
    )

    with pytest.raises(SendError) as caught:
        await channel.send(sms())
    await channel.close()

    assert caught.value.reason == "provider_auth"


@pytest.mark.asyncio
async def test_end_to_end_timeout_leaves_the_outcome_unknown(fake: FakeProviders) -> None:
    fake.stall(TO, 2.0)
    channel = TwilioSmsChannel(
        TWILIO_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN,
        from_number=FROM,
        base_url=fake.twilio_base_url,
        timeout=0.1,
    )

    with pytest.raises(SendError) as caught:
        await channel.send(sms())
    await channel.close()

    assert (caught.value.reason, caught.value.outcome_unknown) == ("timeout", True)


@pytest.mark.asyncio
async def test_end_to_end_refused_connection_is_safe_to_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = TwilioSmsChannel(
        TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, from_number=FROM, base_url=f"http://127.0.0.1:{port}"
    )

    with pytest.raises(SendError) as caught:
        await channel.send(sms())
    await channel.close()

    assert (caught.value.reason, caught.value.outcome_unknown) == ("network", False)


@pytest.mark.asyncio
async def test_end_to_end_region_in_the_environment_still_reaches_the_fake(
    fake: FakeProviders, channel: TwilioSmsChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "ie1")

    await channel.send(sms())

    assert len(fake.sent("twilio")) == 1


@pytest.mark.asyncio
async def test_the_fake_messages_api_rejects_fields_the_spec_does_not_know(
    fake: FakeProviders,
) -> None:
    url = f"{fake.twilio_base_url}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
    form = {"To": TO, "From": FROM, "Body": "hi", "StatusCallbackUrl": STATUS_URL}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=form, headers=_basic_auth()) as answer,
    ):
        status = answer.status

    assert status == 400
    assert fake.violations == ["twilio unknown parameter 'StatusCallbackUrl'"]


@pytest.mark.asyncio
async def test_the_fake_messages_api_requires_a_sender_and_e164(fake: FakeProviders) -> None:
    url = f"{fake.twilio_base_url}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data={"To": "5551234", "Body": "hi"}, headers=_basic_auth()),
    ):
        pass

    assert "twilio one of 'From' or 'MessagingServiceSid' is required" in fake.violations
    assert "twilio To: '5551234' is not an E.164 number" in fake.violations


def _basic_auth() -> dict[str, str]:
    # Built by hand: aiohttp.BasicAuth is deprecated in aiohttp 3.14.
    token = base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.asyncio
async def test_find_sent_finds_a_message_twilio_holds(
    fake: FakeProviders, channel: TwilioSmsChannel
) -> None:
    since = datetime.now(UTC)
    sid = await channel.send(sms("Order 1042 ships today."))
    assert await channel.find_sent(sms("Order 1042 ships today."), since) == sid


@pytest.mark.asyncio
async def test_find_sent_is_none_for_a_message_twilio_never_got(
    fake: FakeProviders, channel: TwilioSmsChannel
) -> None:
    await channel.send(sms("Another text entirely."))
    assert await channel.find_sent(sms("Order 1042 ships today."), datetime.now(UTC)) is None
