"""WAL checkpoints off the commits' path: ``store.wal_checkpoint`` and
``Database.checkpoints_in_background``."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from store.db import Database
from store.wal_checkpoint import BACKSTOP_PAGES, WalCheckpointer

PAGE = 4096
SQLITE_DEFAULT_AUTOCHECKPOINT = 1000


def _sqlite_db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.session() as session:
        session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    return db


def _autocheckpoint(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _write_pages(db: Database, pages: int) -> None:
    """About ``pages`` WAL pages, one commit per page (as one inbound message a commit)."""
    for _ in range(pages):
        with db.session() as session:
            session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": "x" * PAGE})


def test_sqlite_commits_leave_checkpoints_to_the_thread_with_a_backstop(tmp_path: Path) -> None:
    db = _sqlite_db(tmp_path)
    with db.checkpoints_in_background():
        assert _autocheckpoint(db) == BACKSTOP_PAGES
    assert _autocheckpoint(db) == SQLITE_DEFAULT_AUTOCHECKPOINT
    db.dispose()


def test_sqlite_wal_stays_small_without_commits_checkpointing(tmp_path: Path) -> None:
    """The thread copies the log back and writers start it over: the WAL file stays well
    below what was written although no commit checkpoints below the backstop. (Breaking the
    thread, e.g. not starting it, or its pass in the write turn, lets the file grow to all the
    ~9,400 pages written: 3,000 rows of a page and an overflow page each, and the b-tree's.)"""
    db = _sqlite_db(tmp_path)
    wal = tmp_path / "wal.db-wal"
    largest = 0
    with db.checkpoints_in_background(interval=0.1):
        for _ in range(30):
            _write_pages(db, 100)
            time.sleep(0.03)
            largest = max(largest, wal.stat().st_size // PAGE)
    db.dispose()
    assert largest < 6000, f"the WAL grew to {largest} pages"


def test_a_stopped_checkpointer_has_copied_the_log(tmp_path: Path) -> None:
    db = _sqlite_db(tmp_path)
    checkpointer = WalCheckpointer(str(tmp_path / "wal.db"), interval=60)
    checkpointer.start()
    _write_pages(db, 20)
    checkpointer.stop()  # its last pass runs on the way out, not 60 s later
    assert checkpointer.checkpoints == 1
    db.dispose()


def test_the_test_database_writes_and_reads_with_checkpoints_in_background(db: Database) -> None:
    """On PostgreSQL (no WAL file of ours) it is a no-op; on the SQLite file, a thread."""
    with db.checkpoints_in_background(), db.session() as session:
        assert session.execute(text("SELECT 1")).scalar_one() == 1
    with db.read_session() as session:
        assert session.execute(text("SELECT 2")).scalar_one() == 2
