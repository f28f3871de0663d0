"""What the CLI's command modules share without importing ``bot.cli`` (which imports them)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import json
import sys
from typing import Any, NoReturn, Protocol, cast

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
out: Console = _Console()
err: Console = _Console(stderr=True)


class CliContext(Protocol):
    """The part of ``bot.cli.Context`` the command modules use."""

    settings: Settings

    def database(self, *, check_schema: bool = True) -> Database: ...


def context(ctx: typer.Context) -> CliContext:
    return cast(CliContext, ctx.obj)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit: 1 refused, 2 bad usage."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


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
