"""A request aiohttp could not write, because the pooled connection was already closing, is
known unsent: the channels retry it instead of leaving the customer's message "unknown"."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_writer import StreamWriter
from multidict import CIMultiDict
from telegram.error import NetworkError

from messaging.channels import sms, telegram
from messaging.channels.unsent import never_sent

pytestmark = pytest.mark.asyncio


async def _write_on_a_closed_connection() -> BaseException:
    """aiohttp's own writer, on a real connection the server side has already let go."""
    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, protocol = await loop.create_connection(lambda: ResponseHandler(loop), port=port)
    transport.close()
    writer = StreamWriter(protocol, loop)
    try:
        await writer.write_headers("POST /sendMessage HTTP/1.1", CIMultiDict(Host="x"))
        await writer.write(b'{"chat_id": 1, "text": "hi"}')
    except aiohttp.ClientConnectionResetError as exc:
        return exc
    finally:
        server.close()
        await server.wait_closed()
    raise AssertionError("aiohttp wrote to a closed connection")


async def test_a_write_refused_by_a_closing_connection_is_known_unsent() -> None:
    exc = await _write_on_a_closed_connection()
    assert never_sent(exc)
    assert sms.to_send_error(exc).outcome_unknown is False
    wrapped = NetworkError(f"aiohttp.{type(exc).__name__}: {exc}")
    wrapped.__cause__ = exc
    assert telegram.to_send_error(wrapped).outcome_unknown is False


async def test_a_connection_lost_while_draining_may_have_been_sent() -> None:
    # Same class, raised after the bytes were handed over: the provider may have them.
    lost = aiohttp.ClientConnectionResetError("Connection lost")
    assert not never_sent(lost)
    assert sms.to_send_error(lost).outcome_unknown is True
    wrapped = NetworkError("aiohttp.ClientConnectionResetError: Connection lost")
    wrapped.__cause__ = lost
    assert telegram.to_send_error(wrapped).outcome_unknown is True
