"""The read-only views: one order, the waiting lines by SKU, and the backorder report."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

import typer
from rich.console import JustifyMethod

from bot.cli import orders as cli_orders
from bot.cli.support import add_column, context, data_table, fail, out, print_json
from bot.order_views import order_record
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


def orders_show(ctx: typer.Context, number: str, as_json: JsonFlag = False) -> None:
    """One order: its customer, lines, dates and open offers."""
    db = context(ctx).database()
    with db.read_session() as session:
        order = queries.order_with_lines(session, number)
        if order is None:
            fail(f"order {number} does not exist")
        view = order_record(order, with_phone=True)
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
        out.print(cli_orders.shipment_line(shipment), highlight=False, soft_wrap=True)


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
