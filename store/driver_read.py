"""Reading through the database driver alone (sqlite3 or psycopg), without SQLAlchemy.

``orders show`` runs five small statements and exits; importing SQLAlchemy's engine and SQL
packages cost it 0.3 s of CPU, more than half of its budget (issue 16: <= 0.5 s). Only the
URLs whose meaning is plain are opened here (``open_driver_reader``): a SQLite file or an
explicit ``postgresql+psycopg`` URL without query options. Anything else answers None, and
the caller goes through SQLAlchemy as every other command does.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any, Protocol
from urllib.parse import quote

from store.db_url import DatabaseUrl

__all__ = ["DriverReader", "Reader", "open_driver_reader"]

# ``store.db``: a reader waits for a writer's lock as long as SQLAlchemy's connections do.
_SQLITE_TIMEOUT_SECONDS = 30.0
_NAMED = re.compile(r"(?<![:\w]):(\w+)")


class Reader(Protocol):
    """What read-only callers need: rows as dictionaries, parameters written ``:name``."""

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...


class DriverReader:
    """A ``Reader`` over a DB-API connection of sqlite3 or psycopg."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.is_sqlite = isinstance(connection, sqlite3.Connection)

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        # sqlite3 takes ``:name``; psycopg takes ``%(name)s``.
        statement = sql if self.is_sqlite else _NAMED.sub(r"%(\1)s", sql)
        cursor = self.connection.cursor()
        try:
            cursor.execute(statement, params or {})
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def close(self) -> None:
        self.connection.close()


def open_driver_reader(url: DatabaseUrl) -> DriverReader | None:
    """A reader on ``url``'s database, or None when ``url`` is for SQLAlchemy to interpret.

    Connection errors are the driver's own (``sqlite3.Error``, ``psycopg.Error``).
    """
    if url.query is not None:
        return None
    if url.drivername in {"sqlite", "sqlite+pysqlite"}:
        path = url.database or ""
        if path in {"", ":memory:"} or url.host or url.username:
            return None
        # ``mode=rw``: a missing file is an error, never a new empty database.
        uri = f"file:{quote(path)}?mode=rw"
        connection = sqlite3.connect(
            uri, uri=True, timeout=_SQLITE_TIMEOUT_SECONDS, isolation_level=None
        )
        # One snapshot for all the statements, as ``Database.read_connection`` reads.
        connection.execute("BEGIN DEFERRED")
        return DriverReader(connection)
    if url.drivername == "postgresql+psycopg" and (url.port is None or url.port.isdigit()):
        import psycopg  # ImportError when it is not installed: the caller says what to install

        params = {
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
            "dbname": url.database,
        }
        given: dict[str, Any] = {key: value for key, value in params.items() if value}
        return DriverReader(psycopg.connect(**given))
    return None
