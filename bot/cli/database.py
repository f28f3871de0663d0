"""Opening the CLI's database, and one clear line for each way a database can fail.

Exit codes (README, "Command line"): 2 when ``DATABASE_URL`` itself is wrong (not a URL, a
driver that is not installed, a SQLite file that does not exist), 3 when a good URL's database
cannot be used right now (connection refused, a read-only file). A typo in a SQLite path must
not leave a new empty database behind, so only ``db upgrade`` and ``demo`` may create one.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from store.db import Database

EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3
INSTALL_POSTGRES = "pip install 'backorder-bot[postgres]'"


class DatabaseProblem(Exception):
    """The database cannot be used; ``str()`` is the line to show, ``code`` the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseProblem(
            f"DATABASE_URL is not a database URL ({url!r}); expected sqlite:///path/to/file.db "
            "or postgresql+psycopg://user@host/database",
            EXIT_CONFIG,
        ) from None
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise DatabaseProblem(
            f"DATABASE_URL names {parsed.get_backend_name()!r}; "
            "only sqlite:// and postgresql:// databases are supported",
            EXIT_CONFIG,
        )
    return parsed


def sqlite_file(parsed: URL) -> Path | None:
    """The file a SQLite URL points at (``None`` for in-memory databases)."""
    name = parsed.database or ""
    if name in {"", ":memory:"} or "mode=memory" in name:
        return None
    if parsed.query.get("uri") == "true" and name.startswith("file:"):
        name = name.removeprefix("file:").split("?", 1)[0]
    return Path(name)


def open_database(url: str, *, create: bool) -> Database:
    """A ``Database`` for ``url``; raise ``DatabaseProblem`` rather than create one by mistake."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite" and not create:
        path = sqlite_file(parsed)
        if path is not None and not path.is_file():
            raise DatabaseProblem(
                f"there is no database at {path.resolve()} (DATABASE_URL); fix the path, or "
                "create it with `backorder-bot db upgrade`",
                EXIT_CONFIG,
            )
    try:
        return Database(url)
    except (ImportError, NoSuchModuleError) as exc:
        raise DatabaseProblem(_missing_driver(parsed, exc), EXIT_CONFIG) from None


def _missing_driver(parsed: URL, exc: Exception) -> str:
    name = getattr(exc, "name", None) or parsed.get_driver_name()
    if parsed.get_backend_name() == "postgresql":
        return (
            f"PostgreSQL needs the {name} driver, which is not installed: {INSTALL_POSTGRES} "
            "(and use postgresql+psycopg:// URLs)"
        )
    return f"the database driver {name} is not installed"


def explain(exc: SQLAlchemyError | Exception, url: str | None) -> DatabaseProblem:
    """The line for a database error raised while a command ran (SQLAlchemy's, or the
    driver's own when ``orders show`` read without SQLAlchemy)."""
    where = f" at {_safe(url)}" if url else ""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if "readonly" in detail or "read-only" in detail:
        return DatabaseProblem(
            f"the database{where} is read-only ({detail}); check the file's and its folder's "
            "permissions",
            EXIT_UNAVAILABLE,
        )
    return DatabaseProblem(f"cannot use the database{where}: {detail}", EXIT_UNAVAILABLE)


def _safe(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(unparsable DATABASE_URL)"
    path = sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None
    return str(path) if path else parsed.render_as_string(hide_password=True)
