"""The ``orders`` command group: shipping, one order's view, its page link.

Each command is imported when it runs (``bot.cli.lazy``): ``orders show`` must not pay for the
ORM models and the notifier that shipping needs.
"""

from __future__ import annotations

import typer

from bot.cli.lazy import LazyCommand, lazy_group

COMMANDS = (
    LazyCommand(
        "ship",
        "bot.cli.orders:ship",
        "Ship the order's reserved units (all of them, or --quantity of --sku).",
    ),
    LazyCommand(
        "show",
        "bot.cli.orders_show:orders_show",
        "One order: its customer, lines, dates and open offers.",
    ),
    LazyCommand(
        "revoke-link",
        "bot.cli.listings:orders_revoke_link",
        "Close the order's page link (say it leaked); its next message carries a new one.",
    ),
)

app = typer.Typer(cls=lazy_group(COMMANDS), help="Orders.", no_args_is_help=True)
