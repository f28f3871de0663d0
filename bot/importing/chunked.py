"""A big CSV import that doesn't stall the webhooks: checked whole, then written in chunks.

One transaction for a 100,000-row file holds SQLite's single write lock for its whole length,
and every webhook that must write waits behind it. Here the whole file is first read and
checked in a read-only session (every problem at once, nothing written: the promise of
``csv_import``), then written ``chunk_rows`` rows at a time, each chunk its own short
transaction, retried on a deadlock like every writer. Other writers get the lock in between.

Re-running the same file after an interruption (a crash, Ctrl-C, a refusal by the store in
chunk 7) is safe: every applier is an upsert keyed by the row's natural key (sku, phone, order
number, purchase order reference), so rows already written are recognised ("already imported")
and nothing is duplicated. An order's rows (and a purchase order's) never straddle two chunks.
A catalog is written in one transaction: its alternatives may point further down the file, and
catalogs are small.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.importing.csv_import import (
    ImportKind,
    ImportReport,
    Parsed,
    Progress,
    apply_rows,
    check_file,
)
from bot.importing.csv_reading import ImportFailed, RowError
from store.db import Database
from store.policy import Policy

CHUNK_ROWS = 500
CHUNK_SECONDS = 0.2  # and at most about this long, so a waiting webhook waits no longer
SQLITE_PAUSE = 0.12  # seconds between chunks: longer than SQLite's longest busy-handler sleep


class ImportInterrupted(ImportFailed):
    """The store refused a row after the file was checked; the chunks before it are written."""

    def __init__(self, errors: list[RowError], written_rows: int) -> None:
        super().__init__(errors)
        self.written_rows = written_rows
        self.args = (
            f"stopped at line {errors[0].line}; the {written_rows} row(s) before its chunk "
            "were imported, and importing the corrected file again skips them",
        )


def import_in_chunks(
    db: Database,
    kind: ImportKind,
    data: bytes | Path,
    *,
    policy: Policy,
    now: dt.datetime,
    default_region: str = "US",
    default_locale: str = "en",
    default_timezone: str = "UTC",
    chunk_rows: int = CHUNK_ROWS,
    chunk_seconds: float = CHUNK_SECONDS,
    progress: Progress | None = None,
    checked: Progress | None = None,
) -> ImportReport:
    """Check the whole file (``ImportFailed``, nothing written), then write it chunk by chunk.

    ``checked`` hears how many rows will be written; ``progress`` how many each committed chunk
    wrote (after its commit: a retried chunk is not counted twice).
    """
    with db.read_session() as session:
        parsed, warnings = check_file(session, kind, data, policy, now, default_region)
    if checked is not None:
        checked(len(parsed))
    defaults = {"default_locale": default_locale, "default_timezone": default_timezone}
    groups = list(_groups(kind, parsed))
    # SQLite hands its lock to whoever asks first after a commit, and a writer of another
    # process asks only when its busy handler wakes (every 100 ms once it has waited a while):
    # without a pause the importer would take the lock straight back, chunk after chunk.
    pause = SQLITE_PAUSE if db.engine.dialect.name == "sqlite" else 0.0
    written: Counter[str] = Counter()
    done = start = 0
    while start < len(groups):
        work = partial(
            _apply_chunk,
            kind=kind,
            groups=groups,
            start=start,
            limits=(chunk_rows, chunk_seconds),
            policy=policy,
            now=now,
            defaults=defaults,
        )
        try:
            end, part = db.transaction(work)
        except ImportFailed as exc:
            raise ImportInterrupted(exc.errors, done) from None
        written.update(part)
        rows = sum(len(group) for group in groups[start:end])
        done, start = done + rows, end
        if progress is not None:
            progress(rows)
        if start < len(groups):
            time.sleep(pause)
    return ImportReport(kind, len(parsed), dict(written), warnings)


def _apply_chunk(
    session: Session,
    *,
    kind: ImportKind,
    groups: list[Parsed],
    start: int,
    limits: tuple[int, float],
    policy: Policy,
    now: dt.datetime,
    defaults: dict[str, str],
) -> tuple[int, Counter[str]]:
    """Apply whole groups from ``start`` until ``limits`` (rows, seconds) are reached.

    Returns where the next chunk starts and what this one wrote. Bounded in time as well as in
    rows: on a busy machine 500 orders can take seconds, and a webhook would wait that long.
    Groups are written in batches of 1, 2, 4, ... (the appliers are set-wise: a batch costs
    about what one group does), the clock read after each.
    """
    max_rows, max_seconds = limits
    started = time.perf_counter()
    written: Counter[str] = Counter()
    rows = 0
    end = start
    batch = 1  # groups written together; doubled while the chunk's time allows
    while end < len(groups) and rows < max_rows:
        taken: Parsed = []
        first = end
        while end < len(groups) and end - first < batch and rows + len(taken) < max_rows:
            taken.extend(groups[end])
            end += 1
        written.update(apply_rows(session, kind, taken, policy, now, _ignore, defaults))
        rows += len(taken)
        if time.perf_counter() - started > max_seconds:
            break
        batch *= 2
    return end, written


def _ignore(_n: int) -> None:
    pass


def _groups(kind: ImportKind, parsed: Parsed) -> Iterator[Parsed]:
    """Rows that must be written together: an order's, a purchase order's, the whole catalog."""
    if kind is ImportKind.CATALOG:
        yield parsed
        return
    groups: dict[Any, Parsed] = {}
    for line, row in parsed:
        groups.setdefault(_group_key(kind, row, line), []).append((line, row))
    yield from groups.values()


def chunks(kind: ImportKind, parsed: Parsed, size: int) -> Iterator[Parsed]:
    """``parsed`` in runs of about ``size`` rows, as written when time is no limit."""
    chunk: Parsed = []
    for rows in _groups(kind, parsed):
        if chunk and len(chunk) >= size:
            yield chunk
            chunk = []
        chunk.extend(rows)
    if chunk:
        yield chunk


def _group_key(kind: ImportKind, row: Any, line: int) -> Any:
    if kind is ImportKind.ORDERS:
        return row.number
    if kind is ImportKind.PURCHASE_ORDERS:
        return row.reference
    return line  # customers: each row on its own
