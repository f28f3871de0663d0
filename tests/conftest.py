"""Database fixtures: one throwaway database per test run, migrated once.

Without ``TEST_DATABASE_URL`` the suite runs on a SQLite file in a temporary folder. With it
(e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) a fresh ``test_<random>``
database is created on that server for the run and dropped afterwards; when the server cannot be
reached, the database tests skip and say why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from store.db import Database
from store.migrate import upgrade
from store.models import Base

# The longest tests (a minute or more each on PostgreSQL under CI), started first: xdist hands
# tests out in collection order, and one of these collected last kept a single worker busy for
# its whole length after the other had run out of work.
_LONGEST_FIRST = (
    "tests/properties/test_store_model.py",
    "tests/messaging/test_chaos.py",
    "tests/test_inbound_load.py",
    "tests/messaging/test_dispatch_processes.py",
    "tests/bot/test_demo.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return _LONGEST_FIRST.index(path) if path in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: every other test keeps its order


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    url = make_url(server_url)
    name = f"test_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {url.render_as_string()} is not reachable: {exc.orig}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    upgrade(database_url)
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session whose work is rolled back after the test (commits become savepoints)."""
    with db.engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def committed_db(db: Database) -> Iterator[Database]:
    """For tests that need real commits (concurrency, the CLI): the tables are emptied after."""
    yield db
    with db.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


@pytest.fixture
def on_postgres(db: Database) -> Database:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL to run it")
    return db
