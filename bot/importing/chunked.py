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
    written: Counter[str] = Counter()
    done = 0
    for chunk in chunks(kind, parsed, chunk_rows):
        work = partial(
            _apply_chunk, kind=kind, chunk=chunk, policy=policy, now=now, defaults=defaults
        )
        try:
            written.update(db.transaction(work))
        except ImportFailed as exc:
            raise ImportInterrupted(exc.errors, done) from None
        done += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return ImportReport(kind, len(parsed), dict(written), warnings)


def _apply_chunk(
    session: Session,
    *,
    kind: ImportKind,
    chunk: Parsed,
    policy: Policy,
    now: dt.datetime,
    defaults: dict[str, str],
) -> dict[str, int]:
    return apply_rows(session, kind, chunk, policy, now, _ignore, defaults)


def _ignore(_n: int) -> None:
    pass


def chunks(kind: ImportKind, parsed: Parsed, size: int) -> Iterator[Parsed]:
    """``parsed`` in runs of about ``size`` rows; rows sharing a key stay in one run."""
    if kind is ImportKind.CATALOG:
        yield parsed
        return
    groups: dict[Any, Parsed] = {}
    for line, row in parsed:
        groups.setdefault(_group_key(kind, row, line), []).append((line, row))
    chunk: Parsed = []
    for rows in groups.values():
        if chunk and len(chunk) + len(rows) > size:
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
