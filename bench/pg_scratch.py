"""A throwaway PostgreSQL database for a benchmark run: created on the server that
``--database-url`` names, dropped when the run ends.

A benchmark must never write into the database the URL names: a second run would find the
first run's rows (bench_shopify once reported its own leftovers as duplicates), and the server's
``postgres`` database would fill with tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def throwaway_database(server_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty database on ``server_url``'s server; dropped afterwards."""
    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
