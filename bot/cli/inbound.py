"""``backorder-bot inbound given-up``: customer messages nobody acted on, for a person to follow up.

A Telegram update whose handling kept failing is given up after an hour (``bot.telegram.retry``)
rather than acted on late; this lists them with what the customer wrote, so someone can answer
by hand. The web process also logs each give-up at WARNING (without the text).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.cli.support import context, out, print_json
from store.inbound_give_ups import given_up

app = typer.Typer(help="Customer messages as received.", no_args_is_help=True)


@app.command("given-up")
def given_up_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Messages whose handling failed until they were too old to act on, newest first."""
    db = context(ctx).database()
    with db.read_session() as session:
        rows = [
            {
                "id": g.id,
                "channel": g.channel.value,
                "provider_id": g.provider_id,
                "sender": g.sender,
                "body": g.body,
                "received_at": g.received_at.isoformat(),
                "given_up_at": g.given_up_at.isoformat() if g.given_up_at else None,
            }
            for g in given_up(session)
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No messages given up on.")
        return
    table = Table("received", "channel", "chat", "message", "given up")
    for row in rows:
        table.add_row(
            str(row["received_at"])[:19],
            str(row["channel"]),
            str(row["sender"]),
            str(row["body"] or ""),
            str(row["given_up_at"] or "")[:19],
        )
    out.print(table)
