"""What the CLI's command modules share without importing ``bot.cli`` (which imports them)."""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import getpass
import json
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, cast

import typer
from rich.console import Console, ConsoleDimensions, JustifyMethod
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperArgument, TyperOption

if TYPE_CHECKING:
    from bot.settings import Settings
    from store.db import Database

# Piped output has no width to fit: Rich would wrap lines and cut table cells at 80 columns
# (the report's ETA read ``2027-0…``). A terminal keeps its own width.
PIPED_WIDTH = 10_000


class _Console(Console):
    @property
    def size(self) -> ConsoleDimensions:
        if self.is_terminal:
            return super().size
        return ConsoleDimensions(PIPED_WIDTH, 25)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


# The rule for streams (README, "Command line"): stdout carries what the command did or found
# (tables, JSON, summaries); stderr carries errors, warnings and progress bars only.
def _hide_flag_types() -> None:
    """Typer 0.29's help shows ``<bool>`` beside every flag (``--dry-run <bool>``), which reads
    as if the flag took a value. Flags take none: show no type for them. A choice whose help
    lists its values (``show_choices=False``) would read ``<ImportKind>``: no type either.

    Typer has no hook for this; the override is narrow, and ``tests/bot/test_cli_help.py``
    notices if an upgrade changes the method it replaces (pyproject pins Typer < 0.30).
    """
    for cls in (TyperOption, TyperArgument):
        original = getattr(cls, "display_type_rich", None)
        if original is None:  # an older Typer, which never showed these types
            continue

        def display_type_rich(
            self: TyperOption | TyperArgument,
            ctx: Any,
            original: Callable[[Any, Any], str | None] = original,
        ) -> str | None:
            if getattr(self, "is_flag", False) or not getattr(self, "show_choices", True):
                return None
            return original(self, ctx)

        cls.display_type_rich = display_type_rich  # type: ignore[method-assign]


_hide_flag_types()
out: Console = _Console()
# soft_wrap: an error stays one line (the terminal wraps it), easy to grep and to paste.
err: Console = _Console(stderr=True, soft_wrap=True)


class CliContext(Protocol):
    """The part of ``bot.cli.Context`` the command modules use."""

    settings: Settings

    def database(self, *, check_schema: bool = True) -> Database: ...


def data_table(*headers: str, title: str | None = None, wrap: tuple[str, ...] = ()) -> Table:
    """A table for a narrow terminal: the ``wrap`` columns (names, free text) wrap onto more
    lines, the others (SKUs, dates, counts, statuses) stay whole; Rich's default would cut an
    ETA to ``2027-0…`` or a status to ``backord…``, which is no answer."""
    table = Table(title=title)
    for header in headers:
        add_column(table, header, wrap=header in wrap)
    return table


def add_column(table: Table, header: str, *, wrap: bool, justify: JustifyMethod = "left") -> None:
    table.add_column(header, justify=justify, no_wrap=not wrap, overflow="fold")


def context(ctx: typer.Context) -> CliContext:
    return cast(CliContext, ctx.obj)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit: 1 refused, 2 bad usage."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def parse_day(value: str | dt.date) -> dt.date:
    """A ``YYYY-MM-DD`` argument; an impossible day says so instead of "does not match"."""
    if isinstance(value, dt.date):
        return value
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", value.strip())
    if not match:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-12-31 (YYYY-MM-DD)")
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        raise typer.BadParameter(f"{value}: there is no month {month}")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise typer.BadParameter(
            f"{value}: that day does not exist ({calendar.month_name[month]} {year} "
            f"has {last} days)"
        )
    return dt.date(year, month, day)


def actor() -> str:
    """Who is at the terminal, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=_json_default, indent=2, ensure_ascii=False) + "\n")


def progress_bar() -> Progress:
    """The bar long commands show on stderr while they work (gone when done)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
