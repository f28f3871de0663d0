"""Commands loaded when they run: `backorder-bot --help` lists every command from a summary
kept here, and only the command that runs imports its module (SQLAlchemy, FastAPI, twilio and
python-telegram-bot cost seconds together; ``--help`` needs none of them).

A summary must be the first line of the command's own help; ``tests/bot/test_cli_startup.py``
loads every command and compares, so the two cannot drift apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import typer
import typer.main
from typer import _click as click  # Typer 0.29 runs on its own copy of click
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """A command (or group) named ``name``, found at ``target`` ("module:attribute")."""

    name: str
    target: str
    summary: str

    def load(self) -> click.Command:
        module_name, attribute = self.target.split(":")
        found: Any = getattr(importlib.import_module(module_name), attribute)
        command: click.Command
        if isinstance(found, typer.Typer):
            # A group, even with one command, and without the completion options of a whole app.
            command = typer.main.get_group(found)
        else:
            # A plain function: a one-command app without a callback collapses to that command.
            single = typer.Typer(add_completion=False)
            single.command(self.name)(found)
            command = typer.main.get_command(single)
        command.name = self.name
        return command


class LazyGroup(TyperGroup):
    """A Typer group whose ``lazy_commands`` are imported on first use, not at start-up."""

    lazy_commands: tuple[LazyCommand, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._by_name = {lazy.name: lazy for lazy in self.lazy_commands}
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        eager = [name for name in super().list_commands(ctx) if name not in self._by_name]
        return eager + [lazy.name for lazy in self.lazy_commands]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = self._by_name.get(cmd_name)
        if lazy is None or cmd_name in self.commands:
            return super().get_command(ctx, cmd_name)
        if self._listing:
            # Only its line in the help is wanted: no import.
            return TyperCommand(lazy.name, help=lazy.summary, short_help=lazy.summary)
        self.commands[cmd_name] = lazy.load()
        return self.commands[cmd_name]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with self._listing_only():
            super().format_help(ctx, formatter)

    @contextmanager
    def _listing_only(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False


def lazy_group(commands: tuple[LazyCommand, ...]) -> type[LazyGroup]:
    """A ``LazyGroup`` class for ``typer.Typer(cls=...)``, which takes a class, not an object."""
    return type("CommandsGroup", (LazyGroup,), {"lazy_commands": commands})
