"""The schema's revisions without Alembic's machinery: every CLI command checks them first.

Alembic's ``ScriptDirectory`` imports every migration module (and Alembic's DDL layer) to find
the head: 0.5 s of CPU before a command such as ``orders show`` had done anything, more than the
command's whole budget (issue 16: <= 0.5 s). The head is read here from the migration files'
``revision`` / ``down_revision`` lines, and the database's revision with one ``SELECT``. Anything
these simple readings cannot settle (a merge, a branch, several current revisions) is handed to
Alembic itself, so the answer is always Alembic's (``tests/store/test_schema_version.py``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from store.driver_read import DriverReader

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
_ASSIGNMENT = r"^{name}(?:\s*:[^=\n]+)?\s*=\s*(?:\"(\w+)\"|'(\w+)'|None)\s*$"
_REVISION = re.compile(_ASSIGNMENT.format(name="revision"), re.MULTILINE)
_DOWN = re.compile(_ASSIGNMENT.format(name="down_revision"), re.MULTILINE)


@functools.cache
def head_revision() -> str:
    """The newest migration's revision id."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN.search(source)
        if revision is None or down is None:
            return _alembic_head()  # written some other way: let Alembic read it
        revisions.add(revision.group(1) or revision.group(2))
        if down.group(1) or down.group(2):
            parents.add(down.group(1) or down.group(2))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else _alembic_head()


def schema_problem(current: str | None, head: str) -> str | None:
    """What to tell the user when the database is not at ``head``; None when it is."""
    if current is None:
        return "the database has no tables yet: run `backorder-bot db upgrade`"
    if current != head:
        return (
            f"the database schema is at revision {current}, this version needs {head}: "
            "run `backorder-bot db upgrade`"
        )
    return None


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at; None when it has no schema yet."""
    from sqlalchemy import inspect, text

    if not inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()  # raises on branches
    return rows[0] if rows else None


# ``inspect(conn).has_table``'s question on each database (SQLAlchemy 2's PostgreSQL dialect:
# a table, view or foreign table of that name visible on the search path).
_HAS_VERSION_TABLE = {
    True: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'",
    False: "SELECT 1 FROM pg_catalog.pg_class c WHERE c.relname = 'alembic_version'"
    " AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND pg_catalog.pg_table_is_visible(c.oid)",
}


class NeedsAlembic(Exception):
    """Several current revisions: only Alembic can say what they mean (``current_revision``)."""


def current_revision_read(reader: DriverReader) -> str | None:
    """``current_revision`` through the driver alone (``orders show``); raises ``NeedsAlembic``
    when the database is at several revisions."""
    if not reader.rows(_HAS_VERSION_TABLE[reader.is_sqlite]):
        return None
    rows = reader.rows("SELECT version_num FROM alembic_version")
    if len(rows) > 1:
        raise NeedsAlembic
    return str(rows[0]["version_num"]) if rows else None


def _alembic_head() -> str:
    from alembic.script import ScriptDirectory

    from store import migrate

    head = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
