"""The CLI's schema check reads revisions without Alembic's machinery; its answers are Alembic's."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from store import schema_version
from store.db import Database
from store.driver_read import DriverReader
from store.migrate import alembic_config, current_revision, upgrade


def test_the_head_read_from_the_files_is_alembics(db: Database) -> None:
    assert schema_version.head_revision() == (
        ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    )


def test_the_current_revision_is_alembics(db: Database) -> None:
    with db.read_connection() as conn:
        assert schema_version.current_revision(conn) == current_revision(db.url)


@pytest.mark.parametrize("revision", ["0001", "0010"])
def test_an_older_schema_reads_as_its_revision(tmp_path: Path, revision: str) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, revision)
    old = Database(url)
    try:
        with old.read_connection() as conn:
            assert schema_version.current_revision(conn) == revision
    finally:
        old.dispose()


def test_a_database_without_tables_has_no_revision(tmp_path: Path) -> None:
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with empty.read_connection() as conn:
            conn.execute(text("SELECT 1"))
            assert schema_version.current_revision(conn) is None
    finally:
        empty.dispose()


def test_a_branching_history_is_left_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    for name, down in (("a1", None), ("b2", "a1"), ("c3", "a1")):
        parent = f'"{down}"' if down else "None"
        source = f'revision: str = "{name}"\ndown_revision: str | None = {parent}\n'
        (versions / f"{name}.py").write_text(source)
    monkeypatch.setattr(schema_version, "VERSIONS", versions)
    monkeypatch.setattr(schema_version, "_alembic_head", lambda: "asked alembic")
    schema_version.head_revision.cache_clear()
    try:
        assert schema_version.head_revision() == "asked alembic"
    finally:
        schema_version.head_revision.cache_clear()


def _read_revision(db: Database) -> str | None:
    with db.read_connection() as conn:
        return schema_version.current_revision_read(DriverReader(conn.connection.dbapi_connection))


def test_the_revision_read_through_the_driver_is_alembics(db: Database) -> None:
    assert _read_revision(db) == current_revision(db.url)


@pytest.mark.parametrize("revision", ["0001", "0010"])
def test_an_older_schema_reads_as_its_revision_through_the_driver(
    tmp_path: Path, revision: str
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, revision)
    old = Database(url)
    try:
        assert _read_revision(old) == revision
    finally:
        old.dispose()


def test_no_tables_and_several_revisions_through_the_driver(tmp_path: Path) -> None:
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert _read_revision(empty) is None
        with empty.session() as session:
            session.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            session.execute(text("INSERT INTO alembic_version VALUES ('a'), ('b')"))
        with pytest.raises(schema_version.NeedsAlembic):
            _read_revision(empty)
    finally:
        empty.dispose()
