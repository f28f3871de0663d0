"""Reading an import file as a stream of rows, within limits (README, "CSV files").

Memory stays bounded whatever the file holds: the bytes are decoded as they are read, a line may
be at most ``MAX_LINE_CHARS`` long, a field at most 128 KiB (the csv module's own limit), and only
the first ``MAX_ERRORS`` problems are kept (the others are counted). Files larger than
``MAX_FILE_BYTES`` are refused before a byte is read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_ERRORS = 1_000
MAX_FIELD_KIB = csv.field_size_limit() // 1024
# A longer line cannot hold a usable row (every field is capped) and would be read whole.
MAX_LINE_CHARS = 1024 * 1024
_EXTRA = "\0extra"


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportFailed(Exception):
    """The file was refused; ``errors`` says where and why (``more`` were not kept)."""

    def __init__(self, errors: list[RowError], more: int = 0) -> None:
        super().__init__(f"{len(errors) + more} problem(s); nothing was imported")
        self.errors = errors
        self.more = more


class Problems:
    """The problems found so far: the first ``MAX_ERRORS`` kept, the rest only counted."""

    def __init__(self) -> None:
        self.kept: list[RowError] = []
        self.more = 0

    def add(self, error: RowError) -> None:
        if len(self.kept) < MAX_ERRORS:
            self.kept.append(error)
        else:
            self.more += 1

    def raise_if_any(self) -> None:
        if self.kept:
            unique = sorted(set(self.kept), key=lambda e: e.line)
            raise ImportFailed(unique, self.more)


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    values: dict[str, str]


class _LineTooLong(Exception):
    pass


@contextmanager
def open_text(source: bytes | Path) -> Iterator[TextIO]:
    """The file as text, decoded while read; refused whole if it is over the size limit."""
    size = source.stat().st_size if isinstance(source, Path) else len(source)
    if size > MAX_FILE_BYTES:
        raise ImportFailed(
            [
                RowError(
                    1,
                    f"the file has {size:,} bytes, larger than the {MAX_FILE_BYTES:,} bytes "
                    "an import may have; split it",
                )
            ]
        )
    binary = source.open("rb") if isinstance(source, Path) else io.BytesIO(source)
    # surrogateescape keeps undecodable bytes visible per row, so every bad line is reported.
    with io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="") as t:
        yield t


def _bounded_lines(text: TextIO) -> Iterator[str]:
    while line := text.readline(MAX_LINE_CHARS):
        if len(line) == MAX_LINE_CHARS and not line.endswith("\n"):
            raise _LineTooLong
        yield line


def read_header(
    text: TextIO, required: tuple[str, ...], optional: tuple[str, ...]
) -> tuple[csv.DictReader[str], list[str]]:
    """A reader past the header line, and warnings; ``ImportFailed`` for unusable headers."""
    reader = csv.DictReader(_bounded_lines(text), restkey=_EXTRA)
    try:
        fieldnames = reader.fieldnames
    except (csv.Error, _LineTooLong):
        raise ImportFailed([RowError(1, "the header line cannot be read as CSV")]) from None
    header = [name.strip().lower() for name in (fieldnames or [])]
    if not header:
        raise ImportFailed([RowError(1, "the file is empty; expected a header line")])
    reader.fieldnames = header
    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFailed([RowError(1, f"missing column(s): {', '.join(missing)}")])
    known = set(required) | set(optional)
    warnings = [
        f"column {name!r} is not used and was ignored" for name in header if name not in known
    ]
    return reader, warnings


def iter_rows(reader: csv.DictReader[str], problems: Problems) -> Iterator[Row]:
    """The data rows one at a time; a row of the wrong shape goes to ``problems``."""
    count = 0
    start = reader.line_num + 1
    while True:
        line = start
        try:
            record = next(reader)
        except StopIteration:
            return
        except (csv.Error, _LineTooLong) as exc:
            problems.add(RowError(line, _unreadable(exc)))
            return  # past an unreadable row the csv module's position means nothing
        start = reader.line_num + 1
        count += 1
        if count > MAX_ROWS:
            raise ImportFailed([RowError(line, f"more than {MAX_ROWS:,} rows; split the file")])
        problem = _row_shape_problem(record)
        if problem:
            problems.add(RowError(line, problem))
            continue
        values = {k: (v or "").strip() for k, v in record.items() if k != _EXTRA}
        if any(values.values()):  # else a blank line
            yield Row(line, values)


def _unreadable(exc: Exception) -> str:
    if isinstance(exc, _LineTooLong):
        what = f"the line is longer than {MAX_LINE_CHARS // 1024 // 1024} MiB"
    elif "field larger than field limit" in str(exc):
        what = f"a field is longer than {MAX_FIELD_KIB} KiB (a quote left open?)"
    else:
        what = f"not readable as CSV ({exc})"
    return f"{what}; the rest of the file was not read"


def _row_shape_problem(record: dict[str, Any]) -> str | None:
    if record.get(_EXTRA):
        return "more fields than the header has columns (a stray comma or quote?)"
    for value in record.values():
        if isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value):
            bad = next(ch for ch in value if "\udc80" <= ch <= "\udcff")
            byte = ord(bad) - 0xDC00
            return f"not valid UTF-8 (byte 0x{byte:02x}); save the file as UTF-8"
    return None


def iter_errors(failure: ImportFailed, limit: int) -> Iterator[str]:
    for error in failure.errors[:limit]:
        yield str(error)
    rest = len(failure.errors) - min(limit, len(failure.errors)) + failure.more
    if rest:
        yield f"... and {rest} more"
