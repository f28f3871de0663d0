"""TelegramChannel: what goes on the wire, and how every Telegram failure is translated.

Unit tests give the channel a fake ``telegram.request.BaseRequest`` (PTB's own seam) that
answers with canned JSON from ``fixtures/telegram``; end-to-end tests use the real aiohttp
transport against the fake Bot API in ``fake_providers``, which checks requests against the
published spec.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram._utils.types import ODVInput
from telegram.constants import ParseMode
from telegram.error import (
    Conflict,
    InvalidToken,
    NetworkError,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData

from messaging.channels import Channel, SendError
from messaging.channels.aiohttp_request import AiohttpRequest
from messaging.channels.telegram import TelegramChannel, to_send_error
from messaging.types import Button, ChannelKind, OutgoingMessage
from tests.messaging.fake_providers import TELEGRAM_TOKEN, CannedAnswer, FakeProviders, load_answer

CHAT_ID = "5550001234"
BUTTONS = (
    Button("Wait (10% off)", "offer:7:wait"),
    Button("Switch to Red Kettle", "offer:7:switch"),
    Button("Cancel the order", "offer:7:cancel"),
)


class CannedRequest(BaseRequest):
    """Answers each request with the next canned answer (or raises it), recording the call."""

    def __init__(self, *answers: CannedAnswer | BaseException) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.initialized = 0
        self.shut_down = 0

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        self.initialized += 1

    async def shutdown(self) -> None:
        self.shut_down += 1

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        self.calls.append((url, dict(request_data.parameters) if request_data else {}))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer.status, answer.payload()


def telegram_message(text: str = "Your <b>order</b> is delayed.", **kwargs: Any) -> OutgoingMessage:
    return OutgoingMessage(ChannelKind.TELEGRAM, kwargs.pop("address", CHAT_ID), text, **kwargs)


async def send_with(*answers: CannedAnswer | BaseException) -> tuple[str, CannedRequest]:
    request = CannedRequest(*answers)
    channel = TelegramChannel(TELEGRAM_TOKEN, request=request)
    try:
        return await channel.send(telegram_message(buttons=BUTTONS)), request
    finally:
        await channel.close()


async def error_for(answer: CannedAnswer | BaseException) -> SendError:
    with pytest.raises(SendError) as caught:
        await send_with(answer)
    return caught.value


OK = load_answer("telegram/send_message_ok.json")


@pytest.mark.asyncio
async def test_it_sends_html_with_one_button_per_row_and_no_link_preview() -> None:
    _, request = await send_with(OK)

    url, fields = request.calls[0]
    assert url == f"https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendMessage"
    assert fields == {
        "chat_id": int(CHAT_ID),
        "text": "Your <b>order</b> is delayed.",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
        "reply_markup": {
            "inline_keyboard": [
                [{"text": "Wait (10% off)", "callback_data": "offer:7:wait"}],
                [{"text": "Switch to Red Kettle", "callback_data": "offer:7:switch"}],
                [{"text": "Cancel the order", "callback_data": "offer:7:cancel"}],
            ]
        },
    }


class RecordingRequest(CannedRequest):
    """Keeps the ``RequestData`` objects themselves, to compare every view of them."""

    def __init__(self, *answers: CannedAnswer | BaseException) -> None:
        super().__init__(*answers)
        self.data: list[RequestData | None] = []

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:  # fmt: skip
        self.data.append(request_data)
        return await super().do_request(url, method, request_data)


@pytest.mark.asyncio
@pytest.mark.parametrize("buttons", [BUTTONS, ()], ids=["buttons", "no_buttons"])
@pytest.mark.parametrize("address", [CHAT_ID, "@shopnews"])
async def test_the_prepared_request_is_what_ptbs_own_post_builds(
    buttons: tuple[Button, ...], address: str
) -> None:
    """The fast path skips PTB's parameter building; the transport must not see a difference."""
    fast, slow = RecordingRequest(OK), RecordingRequest(OK)
    channel = TelegramChannel(TELEGRAM_TOKEN, request=fast)
    text = "Caf\u00e9 <b>Kettle</b> \u2013 10% off"
    await channel.send(telegram_message(text, buttons=buttons, address=address))
    bot = Bot(TELEGRAM_TOKEN, request=slow, get_updates_request=slow)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data)]
                                     for b in buttons]) if buttons else None  # fmt: skip
    await bot._post(
        "sendMessage",
        {
            "chat_id": int(address) if address.isdigit() else address,
            "text": "Caf\u00e9 <b>Kettle</b> \u2013 10% off",
            "parse_mode": ParseMode.HTML,
            "link_preview_options": LinkPreviewOptions(is_disabled=True),
            "reply_markup": keyboard,
        },
    )
    (prepared,), (built,) = fast.data, slow.data
    assert prepared is not None
    assert built is not None
    assert prepared.parameters == built.parameters
    # Key order inside the keyboard differs (ours is built by hand), which JSON ignores.
    same = {"sort_keys": True}
    assert json.dumps(prepared.parameters, **same) == json.dumps(built.parameters, **same)
    assert _decoded(prepared.json_parameters) == _decoded(built.json_parameters)
    assert prepared.contains_files is built.contains_files is False
    assert fast.calls[0][0] == slow.calls[0][0]


def _decoded(form: dict[str, str]) -> dict[str, Any]:
    """Form fields with the JSON objects inside them parsed (plain strings stay as they are)."""
    return {k: json.loads(v) if v[:1] in "{[" else v for k, v in form.items()}


@pytest.mark.asyncio
async def test_it_returns_telegrams_message_id() -> None:
    message_id, _ = await send_with(OK)

    assert message_id == "4711"


@pytest.mark.asyncio
async def test_it_omits_the_keyboard_when_there_are_no_buttons() -> None:
    request = CannedRequest(OK)
    channel = TelegramChannel(TELEGRAM_TOKEN, request=request)
    await channel.send(telegram_message())
    await channel.close()

    assert "reply_markup" not in request.calls[0][1]


@pytest.mark.asyncio
async def test_it_sends_channel_usernames_as_text() -> None:
    request = CannedRequest(OK)
    channel = TelegramChannel(TELEGRAM_TOKEN, request=request)
    await channel.send(telegram_message(address="@shop_news"))
    await channel.close()

    assert request.calls[0][1]["chat_id"] == "@shop_news"


@pytest.mark.asyncio
async def test_it_uses_the_configured_base_url() -> None:
    request = CannedRequest(OK)
    channel = TelegramChannel(TELEGRAM_TOKEN, base_url="http://127.0.0.1:9/bot", request=request)
    await channel.send(telegram_message())
    await channel.close()

    assert request.calls[0][0] == f"http://127.0.0.1:9/bot{TELEGRAM_TOKEN}/sendMessage"


@pytest.mark.asyncio
async def test_it_never_calls_get_me() -> None:
    _, request = await send_with(OK)

    assert [url.rsplit("/", 1)[1] for url, _ in request.calls] == ["sendMessage"]


@pytest.mark.asyncio
async def test_it_initializes_the_transport_once_and_shuts_it_down_on_close() -> None:
    request = CannedRequest(OK, OK)
    channel = TelegramChannel(TELEGRAM_TOKEN, request=request)
    await channel.send(telegram_message())
    await channel.send(telegram_message())
    await channel.close()
    await channel.close()

    assert (request.initialized, request.shut_down) == (1, 1)


@pytest.mark.asyncio
async def test_it_refuses_an_sms_message_without_sending() -> None:
    request = CannedRequest()
    channel = TelegramChannel(TELEGRAM_TOKEN, request=request)
    with pytest.raises(SendError) as caught:
        await channel.send(OutgoingMessage(ChannelKind.SMS, "+15551234567", "hi"))

    assert (caught.value.reason, caught.value.permanent, request.calls) == (
        "wrong_channel",
        True,
        [],
    )


def test_it_satisfies_the_channel_protocol() -> None:
    assert isinstance(TelegramChannel(TELEGRAM_TOKEN, request=CannedRequest()), Channel)


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("telegram/blocked_by_user.json", "telegram_blocked"),
        ("telegram/user_deactivated.json", "telegram_user_deactivated"),
        ("telegram/chat_not_found.json", "telegram_chat_not_found"),
        ("telegram/cant_parse_entities.json", "telegram_bad_request"),
        ("telegram/chat_migrated.json", "telegram_chat_migrated"),
    ],
)
@pytest.mark.asyncio
async def test_it_reports_permanent_failures(fixture: str, reason: str) -> None:
    error = await error_for(load_answer(fixture))

    assert (error.reason, error.permanent, error.outcome_unknown) == (reason, True, False)


@pytest.mark.asyncio
async def test_it_passes_on_flood_controls_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22.8 warns while *building* RetryAfter unless PTB_TIMEDELTA is set; our aiohttp
    # transport avoids that (see the end-to-end test), a bare BaseRequest does not.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")

    error = await error_for(load_answer("telegram/flood_control.json"))

    assert (error.reason, error.retry_after, error.permanent) == ("rate_limited", 7.0, False)


@pytest.mark.parametrize("fixture", ["telegram/internal_error.json", "telegram/bad_gateway.json"])
@pytest.mark.asyncio
async def test_it_treats_server_errors_as_transient(fixture: str) -> None:
    error = await error_for(load_answer(fixture))

    assert (error.reason, error.permanent, error.outcome_unknown) == (
        "provider_error",
        False,
        False,
    )


@pytest.mark.asyncio
async def test_it_treats_a_rejected_token_as_transient_configuration_trouble() -> None:
    error = await error_for(load_answer("telegram/unauthorized.json"))

    assert (error.reason, error.permanent) == ("provider_auth", False)


@pytest.mark.asyncio
async def test_a_read_timeout_leaves_the_outcome_unknown() -> None:
    timed_out = TimedOut()
    timed_out.__cause__ = aiohttp.SocketTimeoutError()

    error = await error_for(timed_out)

    assert (error.reason, error.outcome_unknown, error.permanent) == ("timeout", True, False)


@pytest.mark.asyncio
async def test_a_connect_timeout_is_known_not_sent() -> None:
    timed_out = TimedOut()
    timed_out.__cause__ = aiohttp.ConnectionTimeoutError()

    error = await error_for(timed_out)

    assert (error.reason, error.outcome_unknown) == ("timeout", False)


@pytest.mark.asyncio
async def test_a_dropped_connection_leaves_the_outcome_unknown() -> None:
    dropped = NetworkError("aiohttp.ServerDisconnectedError")
    dropped.__cause__ = aiohttp.ServerDisconnectedError()

    error = await error_for(dropped)

    assert (error.reason, error.outcome_unknown, error.permanent) == ("network", True, False)


@pytest.mark.parametrize(
    ("exc", "reason", "permanent", "unknown"),
    [
        (InvalidToken("Unauthorized"), "provider_auth", False, False),
        (Conflict("terminated by other getUpdates request"), "provider_error", False, False),
        (TelegramError("Invalid server response"), "provider_error", False, True),
    ],
)
def test_other_telegram_errors_map_to_stable_reasons(
    exc: TelegramError, reason: str, permanent: bool, unknown: bool
) -> None:
    error = to_send_error(exc)

    assert (error.reason, error.permanent, error.outcome_unknown) == (reason, permanent, unknown)


# --- end to end: real transport, fake Bot API over HTTP -------------------------------------


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeProviders]:
    async with FakeProviders() as providers:
        yield providers


@pytest_asyncio.fixture
async def channel(fake: FakeProviders) -> AsyncIterator[TelegramChannel]:
    real = TelegramChannel(TELEGRAM_TOKEN, base_url=fake.telegram_base_url)
    yield real
    await real.close()


@pytest.mark.asyncio
async def test_end_to_end_send_follows_the_bot_api_spec(
    fake: FakeProviders, channel: TelegramChannel
) -> None:
    message_id = await channel.send(telegram_message(buttons=BUTTONS))

    [sent] = fake.sent("telegram")
    assert fake.violations == []
    assert message_id == "1"
    assert sent.method == "sendMessage"
    assert sent.fields["chat_id"] == int(CHAT_ID)
    assert sent.fields["parse_mode"] == "HTML"
    assert sent.fields["text"] == "Your <b>order</b> is delayed."
    assert [row[0]["callback_data"] for row in sent.fields["reply_markup"]["inline_keyboard"]] == [
        "offer:7:wait",
        "offer:7:switch",
        "offer:7:cancel",
    ]


@pytest.mark.asyncio
async def test_end_to_end_flood_control_needs_no_process_wide_switch(
    fake: FakeProviders, channel: TelegramChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PTB_TIMEDELTA", raising=False)
    fake.fail(CHAT_ID, "telegram/flood_control.json")

    with pytest.raises(SendError) as caught:
        await channel.send(telegram_message())

    assert (caught.value.reason, caught.value.retry_after) == ("rate_limited", 7.0)


@pytest.mark.asyncio
async def test_end_to_end_blocked_user_is_permanent(
    fake: FakeProviders, channel: TelegramChannel
) -> None:
    fake.fail(CHAT_ID, "telegram/blocked_by_user.json")

    with pytest.raises(SendError) as caught:
        await channel.send(telegram_message())

    assert (caught.value.reason, caught.value.permanent) == ("telegram_blocked", True)


@pytest.mark.asyncio
async def test_end_to_end_read_timeout_leaves_the_outcome_unknown(fake: FakeProviders) -> None:
    fake.stall(CHAT_ID, 2.0)
    request = AiohttpRequest(read_timeout=0.1)
    channel = TelegramChannel(TELEGRAM_TOKEN, base_url=fake.telegram_base_url, request=request)

    with pytest.raises(SendError) as caught:
        await channel.send(telegram_message())
    await channel.close()

    assert (caught.value.reason, caught.value.outcome_unknown) == ("timeout", True)


@pytest.mark.asyncio
async def test_end_to_end_refused_connection_is_safe_to_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = TelegramChannel(TELEGRAM_TOKEN, base_url=f"http://127.0.0.1:{port}/bot")

    with pytest.raises(SendError) as caught:
        await channel.send(telegram_message())
    await channel.close()

    assert (caught.value.reason, caught.value.outcome_unknown, caught.value.permanent) == (
        "network",
        False,
        False,
    )


@pytest.mark.asyncio
async def test_end_to_end_concurrent_sends_all_arrive(
    fake: FakeProviders, channel: TelegramChannel
) -> None:
    addresses = [str(6_000_000_000 + i) for i in range(50)]

    ids = await asyncio.gather(*(channel.send(telegram_message(address=a)) for a in addresses))

    assert len(set(ids)) == 50
    assert sorted(r.fields["chat_id"] for r in fake.sent("telegram")) == sorted(map(int, addresses))
    assert fake.violations == []


@pytest.mark.asyncio
async def test_the_fake_bot_api_rejects_parameters_the_spec_does_not_know(
    fake: FakeProviders,
) -> None:
    body = {"chat_id": 1, "text": "hi", "disable_web_page_preview_typo": True}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.telegram_base_url}{TELEGRAM_TOKEN}/sendMessage", json=body) as answer,
    ):
        reply = json.loads(await answer.read())

    assert answer.status == 400
    assert reply["ok"] is False
    assert fake.violations == [
        "telegram sendMessage: unknown parameter 'disable_web_page_preview_typo'"
    ]


@pytest.mark.asyncio
async def test_the_fake_bot_api_checks_nested_types(fake: FakeProviders) -> None:
    body = {"text": "hi", "reply_markup": {"inline_keyboard": [[{"callback_data": "x"}]]}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.telegram_base_url}{TELEGRAM_TOKEN}/sendMessage", json=body),
    ):
        pass

    assert "telegram sendMessage: missing required parameter 'chat_id'" in fake.violations
    assert any("missing field 'text'" in v for v in fake.violations)
