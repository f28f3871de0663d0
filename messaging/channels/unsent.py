"""Which transport errors prove that a provider received no request, so a resend is safe.

A send that may have reached the provider is not sent again (neither Twilio nor Telegram takes
an idempotency key); one that provably did not is retried at once. Proven unsent:

- the connection never opened (refused, unreachable, a connect time-out);
- aiohttp found the pooled keep-alive connection already closing when it came to write the
  request (the server hung up between two requests): ``StreamWriter`` raises before handing
  the bytes to the transport. At worst a part of the request left, and a server does not act on
  a request it did not receive whole. aiohttp uses the same class for "Connection lost" while
  draining, when the whole request may have left, so the message tells the two apart.
"""

from __future__ import annotations

import aiohttp
import httpx

# aiohttp/http_writer.py raises this, with this text, before writing a byte of a request.
CLOSING_TRANSPORT = "Cannot write to closing transport"

_CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


def never_sent(exc: BaseException | None) -> bool:
    """True when ``exc`` proves the provider received no (complete) request."""
    if isinstance(exc, _CONNECT_ERRORS):
        return True
    return isinstance(exc, aiohttp.ClientConnectionResetError) and str(exc) == CLOSING_TRANSPORT
