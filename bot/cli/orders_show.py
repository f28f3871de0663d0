"""``backorder-bot orders show NUMBER``: one order, read through the database driver.

Imports only what this command needs (issue 16: <= 0.5 s): no SQLAlchemy for a plain URL
(``bot.cli.order_reading``), no Alembic, no web app. ``store.order_sheet`` gives the same
record the JSON API builds from ORM objects.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from bot.cli.order_reading import read_order
from bot.cli.support import context, data_table, fail, out, print_json

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def orders_show(ctx: typer.Context, number: str, as_json: JsonFlag = False) -> None:
    """One order: its customer, lines, dates and open offers."""
    view = read_order(context(ctx), number)
    if view is None:
        fail(f"order {number} does not exist")
    if as_json:
        print_json(view)
        return
    placed_at = dt.datetime.fromisoformat(view["placed_at"]).astimezone(dt.UTC)
    placed = placed_at.strftime("%Y-%m-%d %H:%M UTC")
    out.print(f"[bold]Order {view['number']}[/bold] ({view['status']}), placed {placed}")
    out.print(f"Customer: {view['customer']['name']} {view['customer']['phone'] or ''}")
    # Six columns fit 80 terminal columns with every date and count whole; offers go below.
    table = data_table(
        "sku", "product", "qty", "alloc/wait/shipped", "status", "eta", wrap=("product",)
    )
    for line in view["lines"]:
        units = f"{line['allocated']}/{line['backordered']}/{line['shipped']}"
        table.add_row(
            line["sku"],
            line["name"],
            str(line["quantity"]),
            units,
            line["status"],
            line["eta"] or "-",
        )
    out.print(table)
    for line in view["lines"]:
        if offer := line["open_offer"]:
            out.print(
                f"Offer on {line['sku']}: open until {offer['expires_at'][:10]}", highlight=False
            )
    for shipment in view["shipments"]:
        out.print(shipment_line(shipment), highlight=False, soft_wrap=True)


def shipment_line(view: dict[str, Any]) -> str:
    """One shipment as ``orders show`` lists it."""
    units = ", ".join(f"{item['quantity']} x {item['sku']}" for item in view["lines"])
    tracking = " ".join(
        str(value)
        for value in (view["carrier"], view["tracking_number"], view["tracking_url"])
        if value
    )
    return f"Shipment {view['id']} on {view['created_at'][:10]}: {units}" + (
        f" ({tracking})" if tracking else ""
    )
