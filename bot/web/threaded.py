"""Serving the web app from a thread of this process: the demo, and tests that need a browser.

``serve`` runs uvicorn in the foreground; these callers need the process for something else
(playing the demo's story, driving a browser) while the real server answers on a socket.
:func:`started_port` is the same wait for a server run as a task of the caller's event loop
(the benchmark's and the load test's server processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI

__all__ = ["serving_in_thread", "started_port"]

START_TIMEOUT_SECONDS = 15.0


@contextlib.contextmanager
def serving_in_thread(
    app: FastAPI,
    sock: socket.socket,
    *,
    lifespan: Literal["on", "off"] = "on",
    log_config: dict[str, Any] | None = None,
) -> Iterator[str]:
    """uvicorn serving ``app`` on the bound ``sock`` until the block ends; yields the base URL.

    ``log_config=None`` leaves logging to the caller (ours scrubs secrets).
    """
    config = uvicorn.Config(app, lifespan=lifespan, log_level="warning", log_config=log_config)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_SECONDS)


async def started_port(server: uvicorn.Server, task: asyncio.Task[None]) -> int:
    """Wait until ``server`` (serving as ``task``) has started; the port it bound.

    Meant for port 0 bound by uvicorn itself: its sockets get TCP_NODELAY (asyncio sets it only
    for sockets whose ``proto`` says TCP; one made elsewhere and passed in may lack it, and
    every answer would then wait out a delayed ACK).
    """
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.02)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port
