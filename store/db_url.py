"""Reading a ``DATABASE_URL`` without importing SQLAlchemy (0.3 s of a CLI command's start-up).

``orders show`` reads through the driver alone and the log filter needs only the URL's password,
so neither should pay for SQLAlchemy's engine package to split a string. The pattern is
SQLAlchemy's own (``sqlalchemy.engine.url._parse_url``, 2.x), and
``tests/store/test_db_url.py`` holds the parts read here to ``make_url``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["DEFAULT_DATABASE_URL", "DatabaseUrl", "parse_database_url"]

DEFAULT_DATABASE_URL = "sqlite:///var/backorder-bot.db"

_PATTERN = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """A URL's parts as SQLAlchemy's ``URL`` names them (the port kept as written)."""

    drivername: str
    username: str | None
    password: str | None
    host: str | None
    port: str | None
    database: str | None
    query: str | None

    @property
    def backend(self) -> str:
        return self.drivername.split("+", 1)[0]

    @property
    def driver(self) -> str | None:
        """The driver named after ``+``; None when the URL leaves SQLAlchemy to choose."""
        return self.drivername.split("+", 1)[1] if "+" in self.drivername else None


def parse_database_url(url: str) -> DatabaseUrl | None:
    """The URL's parts, or None when SQLAlchemy could not read it as a URL either."""
    match = _PATTERN.match(url)
    if match is None:
        return None
    parts = match.groupdict()

    def unquoted(name: str) -> str | None:
        value = parts[name]
        return unquote(value) if value is not None else None

    return DatabaseUrl(
        drivername=parts["name"],
        username=unquoted("username"),
        password=unquoted("password"),
        host=parts["ipv4host"] or parts["ipv6host"],
        port=parts["port"],  # "" too: SQLAlchemy refuses an empty port
        database=unquoted("database"),
        query=parts["query"],
    )
