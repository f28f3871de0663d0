"""``serve --workers N``: N processes answering on one listening socket.

The parent binds the socket once and forks the workers; each worker builds its own app (its own
engine and connections: none is shared across a fork) and runs uvicorn on the inherited socket,
where the kernel hands each new connection to one of them. Only worker 0 runs the dispatcher;
every worker runs the Telegram handlers of the updates it accepted (an update is claimed once in
the database, whichever worker handles it).

Safe on SQLite too: the file is in WAL mode, every write takes the lock up front (``BEGIN
IMMEDIATE``) and waits up to the busy timeout for another process's write (``store.db``), so
the workers take turns writing and readers never block. The exactly-once claims
(``bot.inbound``) rest on the database, not on anything a process holds in memory.

SIGTERM or SIGINT to the parent is passed on to every worker, which finishes its requests and its
lifespan (the dispatcher stops cleanly). A worker that dies on its own takes the others down with
it and the parent exits non-zero: the service manager restarts the whole set, rather than the
set serving on at part strength unnoticed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn

__all__ = ["bind_socket", "run_workers"]

logger = logging.getLogger(__name__)

BACKLOG = 2048
ServerFactory = Callable[[int], uvicorn.Server]
"""Builds worker ``index``'s server, in the worker (after the fork)."""


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket every worker inherits. Raises OSError when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run_workers(sock: socket.socket, workers: int, make_server: ServerFactory) -> int:
    """Fork ``workers`` processes serving on ``sock``; wait for them; the exit code."""
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(workers):
            pid = os.fork()
            if pid == 0:
                os._exit(_worker(index, sock, make_server))
            children[pid] = index
        logger.info("serving with %d workers (pids %s)", workers, sorted(children))
        code = 0
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index = children.pop(pid)
            exit_code = os.waitstatus_to_exitcode(status)
            if not stopping:
                logger.error("worker %d exited (%d); stopping the others", index, exit_code)
                code = 1
                stop(signal.SIGTERM, None)
            elif exit_code not in (0, -signal.SIGTERM, -signal.SIGINT):
                code = 1
        return code
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()


def _worker(index: int, sock: socket.socket, make_server: ServerFactory) -> int:
    """A worker's whole life; its exit code. Never returns into the parent's code."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)  # not the parent's; uvicorn installs its own
    try:
        server = make_server(index)
        server.run(sockets=[sock])
    except BaseException:  # a worker must exit here, never unwind into the parent's loop
        logger.exception("worker %d failed", index)
        return 1
    return 0 if server.started else 1
