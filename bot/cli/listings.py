"""The read-only views: the waiting lines by SKU and the backorder report; revoking a page link.

One order's view, ``orders show``, is ``bot.cli.orders_show`` (light on imports).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

import typer
from rich.console import JustifyMethod

from bot.cli.support import add_column, context, data_table, fail, out, print_json
from store import order_links, queries
from store.models import utcnow

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def date_text(value: dt.date | None) -> str:
    return value.isoformat() if value else "-"


def orders_revoke_link(ctx: typer.Context, number: str) -> None:
    """Close the order's page link (say it leaked); its next message carries a new one."""
    db = context(ctx).database()
    with db.session() as session:
        order = queries.order_with_lines(session, number)
        if order is None:
            fail(f"order {number} does not exist")
        revoked = order_links.revoke(session, order.id, utcnow())
    if revoked:
        out.print(
            f"The page link of order {number} is revoked; the next message carries a new one."
        )
    else:
        out.print(f"Order {number} has no live page link.")


def backorders_cmd(
    ctx: typer.Context,
    sku: Annotated[str | None, typer.Option(help="Only this SKU.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Waiting lines grouped by SKU, oldest order first."""
    db = context(ctx).database()
    with db.read_session() as session:
        groups = queries.backorders(session, sku)
    if as_json:
        print_json([{**dataclasses.asdict(g.summary), "lines": g.lines} for g in groups])
        return
    if not groups:
        out.print("Nothing is on backorder.")
        return
    for group in groups:
        s = group.summary
        eta = date_text(s.eta)
        out.print(f"[bold]{s.sku}[/bold] {s.name}: {s.units_waiting} unit(s) waiting, eta {eta}")
        table = data_table(
            "order", "customer", "waiting", "placed", "eta", "slips", "offer", wrap=("customer",)
        )
        for line in group.lines:
            table.add_row(
                line.order_number,
                line.customer_name,
                f"{line.backordered_quantity}/{line.quantity}",
                line.placed_at.date().isoformat(),
                date_text(line.eta),
                str(line.eta_slips),
                line.offer_choice or line.offer_status or "-",
            )
        out.print(table)


def report_cmd(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """By SKU: lines waiting, units, oldest wait, ETA, supplier."""
    db = context(ctx).database()
    now = utcnow()
    with db.read_session() as session:
        rows = queries.backorder_summary(session)
    if as_json:
        print_json(
            [{**dataclasses.asdict(r), "oldest_wait_days": r.oldest_wait_days(now)} for r in rows]
        )
        return
    table = data_table(title="Backorders by SKU")
    # Short headers: at 80 columns every character they save goes to the product's name.
    for name in ("sku", "product", "lines", "units", "waited", "eta", "supplier", "stock"):
        justify: JustifyMethod = "right" if name in {"lines", "units", "stock"} else "left"
        add_column(table, name, wrap=name in {"product", "supplier"}, justify=justify)
    for r in rows:
        table.add_row(
            r.sku,
            r.name,
            str(r.lines_waiting),
            str(r.units_waiting),
            f"{r.oldest_wait_days(now)} d",
            date_text(r.eta),
            r.supplier or "-",
            str(r.stock_on_hand),
        )
    out.print(table if rows else "Nothing is on backorder.")
