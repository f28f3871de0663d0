"""SQLite's WAL checkpoints on a thread of their own, not inside a request's commit.

In WAL mode a commit appends pages to the ``-wal`` file; once that file holds
``wal_autocheckpoint`` pages (1,000 by default) the commit that crossed the line copies them all
back into the database file and syncs it before it returns. Measured on the webhook benchmark's
1,000,000-order file: one inbound message dirties about 8 pages, so every ~125th commit ran a
checkpoint, and those commits took up to 133 ms instead of 0.06 ms, with the process's write
turn held, so every request behind them waited too: one of the causes of the webhooks' p99 of
162 ms (issue 16).

:class:`WalCheckpointer` runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds on
its own connection. A passive checkpoint never waits for a lock and never blocks a writer or a
reader: it copies what no reader still needs, and the next writer starts the log over from its
beginning, but only if all of it was copied, which a commit landing during the checkpoint
prevents. So once the log holds :data:`RESTART_PAGES`, the passive pass (the copying and the
sync of the bulk) is followed by a second one inside the process's write turn: it has only the
pages of the commits made meanwhile to copy, and no commit of this process can land during it,
so the next writer starts the log over. (Before it, passes outside the turn catch up until
few pages are left.) A commit of this process waits for that short pass at most, never for
the bulk.

The connections of a process that runs one keep an automatic checkpoint as a backstop, at
:data:`BACKSTOP_PAGES`: should this thread fall behind (a long read pinning old pages) or
stop, a commit checkpoints as before and the log stays bounded.

Durability is unchanged: ``synchronous=NORMAL`` in WAL mode syncs at checkpoints, wherever they
run; a committed transaction survives a crash of the process either way.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

__all__ = ["BACKSTOP_PAGES", "RESTART_PAGES", "WalCheckpointer"]

logger = logging.getLogger(__name__)

# 40 MB of 4 KiB pages: some 1,200 inbound messages, six seconds at 200/s.
BACKSTOP_PAGES = 10_000
# 8 MB: past this the log is made to start over (see above).
RESTART_PAGES = 2_000
# Passes outside the write turn until one finds at most this many new pages (at most so many
# passes): the pass inside it then copies and syncs little.
LAST_PASS_PAGES = 64
CATCH_UP_PASSES = 4
# Measured at 200 messages/s on the 1,000,000-order file (2,000 paced messages, in-process):
# every 0.25 s the passes re-copied hot index pages the log holds many times over and synced
# four times a second, up to +0.3 ms of CPU a message; every second costs no more than the commits'
# own checkpoints did (1.45-1.68 vs 1.57-1.71 ms), and a commit's p99 fell from 9-12 to 4 ms.
DEFAULT_INTERVAL = 1.0


class WalCheckpointer:
    """A daemon thread checkpointing one SQLite file's WAL, passively, every ``interval`` s."""

    def __init__(
        self,
        path: str,
        *,
        interval: float = DEFAULT_INTERVAL,
        write_turn: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        """``write_turn`` holds off this process's writers (``Database``'s write turns)."""
        self._path = path
        self._interval = interval
        self._write_turn = write_turn
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # passes that copied at least one page (for tests and benchmarks)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after a last passive checkpoint."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                stopping = self._stop.wait(self._interval)
                if self._checkpoint(conn) >= RESTART_PAGES:
                    self._start_the_log_over(conn)
                if stopping:
                    return
        finally:
            conn.close()

    def _start_the_log_over(self, conn: sqlite3.Connection) -> None:
        """Catch up outside the write turn while each pass has many new pages to copy, then
        copy the last few inside it, so the next writer starts the log over."""
        logged = self._checkpoint(conn)
        for _ in range(CATCH_UP_PASSES):
            previous, logged = logged, self._checkpoint(conn)
            if logged - previous <= LAST_PASS_PAGES or logged == 0:
                break
        with self._write_turn():
            self._checkpoint(conn)

    def _checkpoint(self, conn: sqlite3.Connection) -> int:
        """One passive checkpoint; the pages the log holds (0 when it failed)."""
        started = time.perf_counter()
        try:
            # fetchall: a statement left unfinished keeps a read open, and a reader still in
            # the log stops the next writer from starting it over.
            ((busy, logged, copied),) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            # Logged and tried again next pass; the commits' backstop keeps the log bounded.
            logger.exception("WAL checkpoint of %s failed", self._path)
            return 0
        if copied > 0:
            self.checkpoints += 1
        logger.debug(
            "WAL checkpoint: %s of %s pages copied in %.1f ms (busy %s)",
            copied,
            logged,
            (time.perf_counter() - started) * 1000,
            busy,
        )
        return int(logged)
