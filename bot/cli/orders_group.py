"""The ``orders`` command group: shipping, one order's view, its page link."""

from __future__ import annotations

import typer

from bot.cli import listings as cli_listings
from bot.cli import orders as cli_orders

app = typer.Typer(help="Orders.", no_args_is_help=True)
app.command("ship")(cli_orders.ship)
app.command("show")(cli_listings.orders_show)
app.command("revoke-link")(cli_listings.orders_revoke_link)
