"""What the app's slowest webhook requests waited on (``bench_webhooks.py --trace``).

A p50 of 4.6 ms next to a p99 of 162 ms says the tail is not the CPU a request costs but a
wait some requests hit. This records, inside the server process, the candidates' own clocks:

* each request's time in the app (ASGI in to the response's last byte), by path;
* every garbage collection (``gc.callbacks``): when, how long, which generation;
* every commit (the dialect's ``do_commit``; on SQLite a WAL checkpoint runs inside the commit
  that crosses ``wal_autocheckpoint``) and every pass of ``store.wal_checkpoint``'s thread;
* the event loop's stalls (a 1 ms sleep that woke 2 ms late or more);
* the hop to the worker thread (``asyncio.to_thread`` queueing) and the wait for the
  database's write turn (``Database._write_turns``).

At shutdown :func:`Trace.dump` writes JSON: a latency histogram and the slowest requests, each
with the pauses that overlapped it. Only the benchmark installs it; the app knows nothing of it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import functools
import gc
import json
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from store.db import Database
from store.wal_checkpoint import WalCheckpointer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HISTOGRAM_MS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 100, 200, 500, 1000)
SLOWEST = 15
# Pauses shorter than this are not listed against a request (they are in the totals).
NOTABLE_MS = 1.0


# The waits of the request being served (a thread started by ``to_thread`` sees its caller's).
_OWN: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("own", default=None)
# Waits that are the request's own (the rest are the process's, seen as overlaps).
OWN_KINDS = ("thread hop", "in thread", "write turn wait", "commit")

Request = tuple[float, float, str, dict[str, float]]  # start, end, path, own waits (ms)


class Trace:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.pauses: dict[str, list[tuple[float, float]]] = {}  # kind -> (start, end)
        self._gc_started = 0.0
        self.watcher: asyncio.Task[None] | None = None  # watch_loop's task, kept alive here
        self.serving = False  # set by the first request

    # --- recording ----------------------------------------------------------------------------

    def pause(self, kind: str, start: float, end: float) -> None:
        self.pauses.setdefault(kind, []).append((start, end))
        own = _OWN.get()
        if own is not None and kind in OWN_KINDS:
            own[kind] = own.get(kind, 0.0) + (end - start) * 1000

    @contextmanager
    def timed(self, kind: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.pause(kind, start, time.perf_counter())

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if not self.serving:
            return  # start-up's collections (bot.web.steady collects once on purpose)
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.pause(f"gc gen{info['generation']}", self._gc_started, time.perf_counter())

    def install(self, db: Database | None) -> None:
        gc.callbacks.append(self._gc)
        _time_thread_hops(self)
        if db is None:
            return
        dialect = db.engine.dialect
        commit = dialect.do_commit

        def do_commit(dbapi_connection: Any) -> None:
            with self.timed("commit"):
                commit(dbapi_connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign]
        checkpoint = WalCheckpointer._checkpoint

        def timed_checkpoint(checkpointer: WalCheckpointer, conn: Any) -> int:
            with self.timed("wal checkpoint (its thread)"):
                return checkpoint(checkpointer, conn)

        WalCheckpointer._checkpoint = timed_checkpoint  # type: ignore[method-assign]
        turns = db._write_turns
        db._write_turns = _TimedLock(turns, self)

    async def watch_loop(self, every: float = 0.001) -> None:
        """Record the event loop's stalls: a sleep of ``every`` that took 2 ms longer."""
        while True:
            before = time.perf_counter()
            await asyncio.sleep(every)
            after = time.perf_counter()
            if after - before - every > 0.002:
                self.pause("event loop stalled", before + every, after)

    def middleware(self, app: ASGIApp, dump_to: Path) -> ASGIApp:
        """Time each HTTP request; write the report when the lifespan has shut down (uvicorn
        re-raises SIGTERM once it has served, so code after ``serve()`` never runs)."""

        async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
            async def sent(message: Message) -> None:
                if message["type"] == "lifespan.shutdown.complete":
                    self.dump(dump_to)
                await send(message)

            await app(scope, receive, sent)

        async def traced(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await lifespan(scope, receive, send)
                return
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            self.serving = True
            start = time.perf_counter()
            own: dict[str, float] = {}
            token = _OWN.set(own)
            try:
                await app(scope, receive, send)
            finally:
                _OWN.reset(token)
                self.requests.append((start, time.perf_counter(), scope["path"], own))

        return traced

    # --- the report ---------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        by_path: dict[str, list[float]] = {}
        for start, end, path, _own in self.requests:
            by_path.setdefault(path, []).append((end - start) * 1000)
        histograms = {path: _histogram(values) for path, values in by_path.items()}
        totals = {
            kind: {
                "count": len(spans),
                "total_ms": round(sum(e - s for s, e in spans) * 1000, 1),
                "max_ms": round(max(e - s for s, e in spans) * 1000, 2),
                "p99_ms": round(_pct([(e - s) * 1000 for s, e in spans], 0.99), 2),
            }
            for kind, spans in self.pauses.items()
            if spans
        }
        index = {kind: sorted(spans) for kind, spans in self.pauses.items()}
        slowest = sorted(self.requests, key=lambda r: r[0] - r[1])[:SLOWEST]
        return {
            "histogram_ms_upper_bounds": [*HISTOGRAM_MS, "inf"],
            "histograms": histograms,
            "pauses": totals,
            "slowest": [_explain(req, index) for req in slowest],
        }

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(self.report(), indent=1))


class _TimedLock:
    """The database's write-turn lock, timing how long each taker waited for it."""

    def __init__(self, inner: Any, trace: Trace) -> None:
        self._inner = inner
        self._trace = trace

    def __enter__(self) -> Any:
        with self._trace.timed("write turn wait"):
            return self._inner.__enter__()

    def __exit__(self, *exc: object) -> Any:
        return self._inner.__exit__(*exc)


def _time_thread_hops(trace: Trace) -> None:
    """``asyncio.to_thread``: time from the call to the function starting in its thread."""
    original = asyncio.to_thread

    async def to_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        called = time.perf_counter()

        def started() -> Any:
            trace.pause("thread hop", called, time.perf_counter())
            with trace.timed("in thread"):
                return func(*args, **kwargs)

        return await original(functools.partial(started))

    asyncio.to_thread = to_thread


def _histogram(values: list[float]) -> dict[str, Any]:
    counts = [0] * (len(HISTOGRAM_MS) + 1)
    for value in values:
        counts[bisect.bisect_left(HISTOGRAM_MS, value)] += 1
    return {
        "n": len(values),
        "p50": round(_pct(values, 0.5), 2),
        "p99": round(_pct(values, 0.99), 2),
        "max": round(max(values), 2) if values else None,
        "counts": counts,
    }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]


def _explain(request: Request, index: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    """The request's own waits, and the process's pauses that overlapped it (their union)."""
    start, end, path, own = request
    overlaps: dict[str, float] = {}
    for kind, spans in index.items():
        if kind in OWN_KINDS:
            continue
        # Spans are sorted by start; none that starts after the request ends can overlap.
        stop = bisect.bisect_right(spans, (end, float("inf")))
        covered, reached = 0.0, start
        for s, e in spans[:stop]:
            s, e = max(s, reached), min(e, end)
            if e > s:
                covered += e - s
                reached = e
        if covered * 1000 >= NOTABLE_MS:
            overlaps[kind] = round(covered * 1000, 2)
    return {
        "path": path,
        "ms": round((end - start) * 1000, 2),
        "own_ms": {kind: round(ms, 2) for kind, ms in own.items()},
        "overlapping_ms": overlaps,
    }
