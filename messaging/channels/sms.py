"""SMS delivery through the twilio library's async client (``messages.create_async``).

Every twilio and transport error is translated into :class:`SendError` by :func:`to_send_error`,
the only place that knows Twilio's error codes.
"""

from __future__ import annotations

import asyncio
import base64
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http import AsyncHttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from messaging.channels.base import SendError, check_kind
from messaging.channels.unsent import never_sent
from messaging.types import ChannelKind, OutgoingMessage

DEFAULT_BASE_URL = "https://api.twilio.com"

# Twilio error codes (https://www.twilio.com/docs/api/errors) that no retry can fix.
_PERMANENT_CODES = {
    21610: "sms_opted_out",  # the recipient texted STOP
    21211: "sms_invalid_number",
    21614: "sms_invalid_number",  # not a mobile number
    21612: "sms_invalid_number",  # not reachable via SMS from this sender
    21408: "sms_region_disabled",  # geo permissions: country not enabled on the account
}
_AUTH_FAILED = 20003
_TOO_MANY_REQUESTS = 20429

# Retry-After lives on the HTTP response, which TwilioRestException does not keep; the probe
# records it per task, so concurrent sends cannot see each other's headers.
_retry_after_header: ContextVar[str | None] = ContextVar("twilio_retry_after", default=None)


class _RetryAfterProbe(AsyncHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """Wraps the real async HTTP client to remember each answer's Retry-After header."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner.logger, True, None)
        self.inner = inner

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        """Delegate to the wrapped client, noting Retry-After on the way back."""
        response = await self.inner.request(*args, **kwargs)
        headers = response.headers or {}
        _retry_after_header.set(headers.get("Retry-After"))
        return response

    async def close(self) -> None:
        """Close the wrapped client's session, if it has one."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()


class _AiohttpTransport(AsyncTwilioHttpClient):  # type: ignore[misc]
    """twilio's aiohttp client with three changes.

    It builds the Authorization header itself: twilio's ``aiohttp.BasicAuth`` is deprecated
    in aiohttp 3.14 and warns on every request. It skips twilio's per-request log formatting,
    which costs CPU even when logging is off. Its pool is sized to the channel's concurrency
    (the constructor offers no such knob; aiohttp's default is 100).
    """

    def __init__(self, pool_size: int, timeout: float) -> None:
        super().__init__(pool_connections=False)
        # Only connecting is bounded here; the whole send is bounded by the channel, and a
        # connect timeout is the one timeout that proves the request never left.
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(timeout, 5.0)),
        )

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
        """Send one request; same contract as ``AsyncTwilioHttpClient.request``."""
        sent_headers = dict(headers or {})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            sent_headers["Authorization"] = f"Basic {token}"
        async with self.session.request(
            method.upper(),
            url,
            params=params,
            data=data,
            headers=sent_headers,
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
        return Response(response.status, text, response.headers)


_CLOCK_SKEW = timedelta(minutes=2)


class TwilioSmsChannel:
    """Sends SMS from ``from_number`` or through ``messaging_service_sid``.

    ``base_url`` replaces Twilio's host (a local fake in tests and the demo); the client's
    region and edge are pinned to None so that ``TWILIO_REGION``/``TWILIO_EDGE`` in the
    environment cannot rewrite that host (twilio falls back to them even when None is passed).
    ``http_client`` replaces the transport (an async twilio ``HttpClient``); the channel owns it.
    ``timeout`` bounds each send, because twilio's async client ignores its own timeout.
    ``concurrency`` bounds sends in flight and sizes the default connection pool; sends wait
    for a slot before their timeout starts, so a queue is never mistaken for a lost answer.
    """

    kind = ChannelKind.SMS

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        status_callback_url: str | None = None,
        validity_period: int | None = None,
        http_client: Any = None,
        timeout: float = 15.0,
        concurrency: int = 100,
    ) -> None:
        if not (from_number or messaging_service_sid):
            raise ValueError("TwilioSmsChannel needs from_number or messaging_service_sid")
        if validity_period is not None and not 1 <= validity_period <= 36000:
            raise ValueError("validity_period must be between 1 and 36000 seconds")
        self._credentials = (account_sid, auth_token)
        self._base_url = base_url
        self._http_client = http_client
        self._timeout = timeout
        self._concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._client: Any = None
        self._fields = _fixed_fields(
            from_number, messaging_service_sid, status_callback_url, validity_period
        )

    async def send(self, message: OutgoingMessage) -> str:
        """Send ``message.text`` to ``message.address``; return the Message SID (``SM...``)."""
        check_kind(self.kind, message)
        messages = self._messages()
        _retry_after_header.set(None)
        async with self._slots:
            try:
                async with asyncio.timeout(self._timeout):
                    created = await messages.create_async(
                        to=message.address, body=message.text, **self._fields
                    )
            except (TwilioException, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise to_send_error(exc, _retry_after_header.get()) from exc
        return str(created.sid)

    async def find_sent(self, message: OutgoingMessage, since: datetime) -> str | None:
        """Whether Twilio holds this text for this number, created at or after ``since``.

        Used for a send whose answer was lost: Twilio has no idempotency key, but it does list
        a recipient's messages, newest first.
        """
        messages = self._messages()
        # Twilio's clock and ours may differ a little.
        not_before = since - _CLOCK_SKEW
        async with self._slots:
            try:
                async with asyncio.timeout(self._timeout):
                    found = await messages.list_async(to=message.address, limit=50)
            except (TwilioException, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise to_send_error(exc, _retry_after_header.get()) from exc
        for item in found:
            created = item.date_created
            if item.body == message.text and (created is None or created >= not_before):
                return str(item.sid)
        return None

    async def close(self) -> None:
        """Close the HTTP session; twilio's async client leaks it otherwise."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.http_client.close()

    def _messages(self) -> Any:
        # Built on first use: aiohttp sessions can only be created inside a running loop.
        if self._client is None:
            transport = self._http_client or _AiohttpTransport(self._concurrency, self._timeout)
            account_sid, auth_token = self._credentials
            client = Client(account_sid, auth_token, http_client=_RetryAfterProbe(transport))
            client.region = None
            client.edge = None
            client.api.base_url = self._base_url
            self._client = client
        return self._client.api.v2010.account.messages


def _fixed_fields(
    from_number: str | None,
    messaging_service_sid: str | None,
    status_callback_url: str | None,
    validity_period: int | None,
) -> dict[str, Any]:
    """The create_async arguments shared by every message from this channel."""
    candidates: dict[str, Any] = {
        "from_": from_number,
        "messaging_service_sid": messaging_service_sid,
        "status_callback": status_callback_url,
        "validity_period": validity_period,
    }
    return {name: value for name, value in candidates.items() if value is not None}


def to_send_error(exc: BaseException, retry_after: str | None = None) -> SendError:
    """Translate a twilio or transport error into the channel contract's :class:`SendError`."""
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        return _rest_error(int(exc.status), exc.code, _describe(exc), retry_after)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return SendError("timeout", "could not connect to Twilio in time")
    if isinstance(exc, TimeoutError):
        return SendError("timeout", "no answer from Twilio in time", outcome_unknown=True)
    if never_sent(exc):
        return SendError("network", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, aiohttp.ClientError):
        # The connection broke after the request may have reached Twilio.
        return SendError("network", f"{type(exc).__name__}: {exc}", outcome_unknown=True)
    if isinstance(exc, ValueError):
        # json.loads failed on a 2xx answer: Twilio probably created the message.
        return SendError("provider_error", "unreadable answer", outcome_unknown=True)
    return SendError("provider_error", f"{type(exc).__name__}: {exc}")


def _rest_error(status: int, code: Any, detail: str, retry_after: str | None) -> SendError:
    if code in _PERMANENT_CODES:
        return SendError(_PERMANENT_CODES[code], detail, permanent=True)
    if status == 429 or code == _TOO_MANY_REQUESTS:
        return SendError("rate_limited", detail, retry_after=_seconds(retry_after))
    if status == 401 or code == _AUTH_FAILED:
        # Not permanent: bad credentials fail every message alike, and once an operator
        # fixes them the queued messages should still go out.
        return SendError("provider_auth", detail)
    if status >= 500:
        # A gateway timeout means Twilio's edge gave up waiting on a backend that may have
        # created the message.
        return SendError("provider_error", detail, outcome_unknown=status == 504)
    return SendError("sms_bad_request", detail, permanent=True)


def _describe(exc: TwilioRestException | TwilioServiceException) -> str:
    # str() on these exceptions adds terminal colours when stderr is a TTY.
    text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "")
    return f"HTTP {exc.status}, code {exc.code}: {text}"


def _seconds(header: str | None) -> float | None:
    """Retry-After in seconds; the HTTP-date form is not used by Twilio, so it is ignored."""
    if header is None:
        return None
    try:
        value = float(header)
    except ValueError:
        return None
    return value if value >= 0 else None
