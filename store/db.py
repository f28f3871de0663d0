"""Engines and sessions for SQLite (the embedded default) and PostgreSQL (scale-out).

SQLite gets the pragmas that make it a safe multi-process store (WAL, foreign keys, a busy
timeout) and ``BEGIN IMMEDIATE`` for every writing transaction: a deferred transaction that later
upgrades to a writer fails with SQLITE_BUSY at once, whatever the busy timeout says.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from store.retry import DEFAULT_ATTEMPTS, run_retrying
from store.wal_checkpoint import BACKSTOP_PAGES, WalCheckpointer
from store.wal_checkpoint import DEFAULT_INTERVAL as WAL_CHECKPOINT_INTERVAL

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

SQLITE_MMAP_BYTES = 256 * 1024 * 1024
SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "sqlite_begin"
T = TypeVar("T")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def upsert_insert(session: Session, table: Any) -> Any:
    """``INSERT`` into ``table`` in the session's dialect, which has ``on_conflict_do_*``.

    Both supported databases spell ``ON CONFLICT`` the same; SQLAlchemy's generic insert has
    no such clause, so callers pick the dialect's own.
    """
    # Imported here: both dialects' modules cost a CLI command 0.1-0.2 s of start-up.
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; for a SQLite file, create its folder and apply the pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # The driver's own transaction handling is switched off so that we issue BEGIN ourselves
    # (SQLAlchemy's documented recipe for pysqlite).
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # Pages read through a memory map, not a read() each into a 2 MB cache: the analytics'
    # lookups over a million order lines took 40% less CPU. The address space is reserved,
    # not memory; pages are the OS's file cache, shared by every connection.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One engine and two ways to open a session on it.

    ``session()`` is for work that writes (on SQLite it takes the write lock up front);
    ``read_session()`` is for listings and reports, which on SQLite read a WAL snapshot without
    blocking writers. On PostgreSQL both are ordinary READ COMMITTED transactions.
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._reader_engine = self.engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})
        # SQLite has one writer at a time, and a connection waiting for the lock polls with
        # growing sleeps (SQLite's busy handler: 1, 2, 5 ... 100 ms). Threads of one process
        # queue here instead, handed the lock in turn: measured on the webhook benchmark, 32
        # concurrent requests got half the throughput of one until they did. Other processes
        # still meet SQLite's busy timeout. Re-entrant: a thread never waits on itself here.
        self._write_turns: AbstractContextManager[Any] = (
            threading.RLock() if is_sqlite(self.engine) else nullcontext()
        )
        self._checkpointer: WalCheckpointer | None = None
        if is_sqlite(self.engine):
            event.listen(self.engine, "connect", self._sqlite_autocheckpoint)

    def _sqlite_autocheckpoint(self, dbapi_connection: sqlite3.Connection, _record: object) -> None:
        if self._checkpointer is not None:  # see checkpoints_in_background
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")

    @contextmanager
    def checkpoints_in_background(
        self, interval: float = WAL_CHECKPOINT_INTERVAL
    ) -> Iterator[None]:
        """While open, a SQLite file's WAL checkpoints run on a thread of their own instead of
        inside the commit that fills the log (``store.wal_checkpoint``). For a long-running
        process that answers requests (``serve``); nothing happens on PostgreSQL or in memory.
        """
        database = make_url(self.url).database
        if not is_sqlite(self.engine) or not database or database == ":memory:":
            yield
            return
        checkpointer = WalCheckpointer(
            database, interval=interval, write_turn=lambda: self._write_turns
        )
        self._checkpointer = checkpointer
        self.engine.dispose()  # connections opened before get the backstop setting too
        checkpointer.start()
        try:
            yield
        finally:
            checkpointer.stop()
            self._checkpointer = None
            self.engine.dispose()  # back to checkpointing in the commits

    # The ORM's session machinery is imported on first use: a command that reads with Core
    # (``orders show``, the schema check) is 80 ms quicker to start without it.
    @functools.cached_property
    def _writer(self) -> sessionmaker[Session]:
        from sqlalchemy.orm import sessionmaker

        return sessionmaker(self.engine, expire_on_commit=False)

    @functools.cached_property
    def _reader(self) -> sessionmaker[Session]:
        from sqlalchemy.orm import sessionmaker

        return sessionmaker(self._reader_engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A writing transaction: committed on success, rolled back on any exception."""
        with self._write_turns, self._writer.begin() as session:
            yield session

    def transaction(self, work: Callable[[Session], T], *, attempts: int = DEFAULT_ATTEMPTS) -> T:
        """Run ``work`` in a writing transaction, again from the start if it was a deadlock's
        (or a serialisation failure's) victim: the way every writer should write.

        ``work`` may run more than once, so it must do nothing outside the session that cannot
        be repeated (no sending, no counting); its result is that of the attempt that committed.
        """

        def once() -> T:
            with self.session() as session:
                return work(session)

        named = getattr(work, "func", work)  # a functools.partial names its function
        label = getattr(named, "__qualname__", "transaction")
        return run_retrying(once, attempts=attempts, label=label)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        with self._reader() as session:
            yield session

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A Core connection for reading, as ``read_session`` reads (no SQLite write lock)."""
        with self._reader_engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def copy_rows(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    skip_conflicts_on: str | None = None,
) -> None:
    """Bulk insert on PostgreSQL with COPY (several times faster than executemany there).

    Values must be what the column stores (text for enums, naive UTC datetimes, JSON as
    text). With ``skip_conflicts_on`` the rows go through a temporary table so that
    ``ON CONFLICT (...) DO NOTHING`` can keep existing rows, which COPY alone cannot.
    """
    names = ", ".join(columns)
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        target = table
        if skip_conflicts_on is not None:
            target = f"incoming_{table}"
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {target} "
                f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if skip_conflicts_on is not None:
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {target} "  # noqa: S608
                f"ON CONFLICT ({skip_conflicts_on}) DO NOTHING"
            )
            cursor.execute(f"TRUNCATE {target}")
