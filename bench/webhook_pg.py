"""The webhook benchmark's database on PostgreSQL: a fresh database of its own, filled from the
cached SQLite file (the same rows) with COPY, and dropped when the run ends.

Only the tables the generated rows live in are copied; the schema comes from the migrations, so
it is exactly what ``backorder-bot db upgrade`` makes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

TABLES = ("suppliers", "products", "customers", "orders", "order_lines")


@contextmanager
def postgres_copy(
    sqlite_file: Path,
    server_url: str,
    *,
    tables: tuple[str, ...] = TABLES,
    prefix: str = "bench_webhooks",
) -> Iterator[str]:
    """A new database on the server of ``server_url`` holding the file's rows; its URL.

    Keys are not checked while copying (the rows were valid in the file; a switched line
    names its replacement, a later row, which an immediate foreign key would refuse)."""
    from store.migrate import upgrade

    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        _copy_rows(sqlite_file, url, tables)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _copy_rows(sqlite_file: Path, url: str, tables: tuple[str, ...]) -> None:
    source = sqlite3.connect(sqlite_file)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cursor:
                cursor.execute("SET session_replication_role = replica")
                for table in tables:
                    rows = source.execute(f"SELECT * FROM {table}")
                    columns = ", ".join(d[0] for d in rows.description)
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" (SELECT max(id) FROM {table}))"
                    )
                cursor.execute("SET session_replication_role = DEFAULT")
                cursor.execute("ANALYZE")
    finally:
        source.close()
        engine.dispose()
