"""``orders show``'s read: through the driver alone when the URL is plain, else SQLAlchemy's.

Importing SQLAlchemy cost the command 0.3 s of its 0.5 s (issue 16), so a SQLite file or a
``postgresql+psycopg`` URL is read with sqlite3 or psycopg (``store.driver_read``), schema check
included. Everything that is not the plain case goes the way every command goes, with the same
messages and exit codes (``bot.cli.database``): a URL SQLAlchemy must interpret, a missing
driver, a database that cannot be opened, several current revisions. Both ways read the rows
with ``store.order_sheet``; ``tests/bot/test_cli_order_reading.py`` holds them to each other.
"""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from typing import Any

from bot.cli.support import CliContext, fail
from store.db_url import parse_database_url
from store.driver_read import DriverReader, open_driver_reader
from store.order_sheet import order_sheet
from store.schema_version import (
    NeedsAlembic,
    current_revision_read,
    head_revision,
    schema_problem,
)

__all__ = ["read_order"]


def read_order(cli: CliContext, number: str) -> dict[str, Any] | None:
    """The order's record (``store.order_sheet``); exits with the schema's problem, if any."""
    reader = _driver_reader(cli.settings.database_url)
    if reader is None:
        return _read_with_sqlalchemy(cli, number)
    with closing(reader):
        try:
            problem = schema_problem(current_revision_read(reader), head_revision())
            if problem is not None:
                fail(problem)
            return order_sheet(reader, number)
        except NeedsAlembic:
            pass
        except _driver_errors() as exc:
            _fail_on_database(exc, cli.settings.database_url)
    return _read_with_sqlalchemy(cli, number)


def _driver_reader(url: str) -> DriverReader | None:
    parsed = parse_database_url(url)
    if parsed is None:
        return None
    try:
        return open_driver_reader(parsed)
    except ImportError:
        return None  # SQLAlchemy's way names the driver to install
    except _driver_errors():
        return None  # and says why the database cannot be opened, as for every command


def _read_with_sqlalchemy(cli: CliContext, number: str) -> dict[str, Any] | None:
    db = cli.database()  # checks the schema
    with db.read_connection() as conn, conn.begin():
        return order_sheet(DriverReader(conn.connection.dbapi_connection), number)


def _driver_errors() -> tuple[type[Exception], ...]:
    """The errors ``bot.cli.main`` turns into one line: the database, not a bug."""
    errors: list[type[Exception]] = [sqlite3.OperationalError, sqlite3.InterfaceError]
    psycopg = sys.modules.get("psycopg")  # imported only when a PostgreSQL URL was opened
    if psycopg is not None:
        errors += [psycopg.OperationalError, psycopg.InterfaceError]
    return tuple(errors)


def _fail_on_database(exc: Exception, url: str) -> None:
    from bot.cli.database import explain  # SQLAlchemy, on this path only

    problem = explain(exc, url)
    fail(str(problem), code=problem.code)
