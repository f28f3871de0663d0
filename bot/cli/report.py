"""``backorder-bot report``: the backorders by SKU (no sub-command, as before), the supplier
scorecard (``report suppliers``) and where waiting costs customers (``report waiting``).

The figures and their definitions are ``store.analytics``'; this module only prints them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli import listings
from bot.cli.support import context, data_table, fail, out, print_json
from store.analytics import export
from store.analytics.suppliers import scorecards
from store.analytics.waiting import Money, WaitingReport, waiting_report
from store.money import amount_text

app = typer.Typer(
    help="Reports: backorders by SKU; `suppliers` and `waiting` for the analytics.",
    invoke_without_command=True,
)

JsonFlag = listings.JsonFlag


@app.callback()
def report(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """By SKU: lines waiting, units, oldest wait, ETA, supplier (without a sub-command)."""
    if ctx.invoked_subcommand is None:
        listings.report_cmd(ctx, as_json)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _number(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


@app.command("suppliers")
def suppliers(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Per supplier: receipts on the first promised date, lateness, slips, open backorders."""
    cli = context(ctx)
    with cli.database().read_session() as session:
        cards = scorecards(session, cli.settings.default_timezone)
    if as_json:
        print_json([export.scorecard_record(card) for card in cards])
        return
    if not cards:
        out.print("No supplier yet.")
        return
    headers = ("supplier", "receipts", "on 1st date", "avg late", "slips", "slip days")
    table = data_table(*headers, "open units", title="Suppliers", wrap=("supplier",))
    for card in cards:
        table.add_row(
            card.supplier,
            f"{card.receipts} ({card.promised_receipts} promised)",
            _share(card.on_first_date_share),
            _number(card.average_days_late, " d"),
            str(card.slips),
            str(card.slip_days),
            str(card.open_backorder_units),
        )
    out.print(table)


CsvOption = Annotated[
    Path | None, typer.Option("--csv", help="Also write every figure to this CSV file.")
]


@app.command("waiting")
def waiting(ctx: typer.Context, as_json: JsonFlag = False, csv_file: CsvOption = None) -> None:
    """How long backordered lines wait, choices by wait band, revenue kept and lost."""
    with context(ctx).database().read_session() as session:
        found = waiting_report(session)
    if csv_file is not None:
        try:
            csv_file.write_text(export.to_csv(export.waiting_rows(found)), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {csv_file}: {exc.strerror}")
    if as_json:
        print_json(export.waiting_record(found))
        return
    _print_flow(found)
    _print_choices(found)
    _print_revenue(found.revenue.totals)


def _days(seconds: int | float | None) -> str:
    return "-" if seconds is None else f"{seconds / 86_400:.1f} d"


def _print_flow(found: WaitingReport) -> None:
    table = data_table("leg", "lines", "p50", "p90", "max", title="Time on backorder")
    for name, leg in (
        ("backorder -> allocation", found.flow.backorder_to_allocation),
        ("allocation -> shipment", found.flow.allocation_to_shipment),
        ("backorder -> shipment", found.flow.backorder_to_shipment),
    ):
        table.add_row(
            name,
            str(leg.count),
            _days(leg.p50_seconds),
            _days(leg.p90_seconds),
            _days(leg.max_seconds),
        )
    out.print(table)


def _print_choices(found: WaitingReport) -> None:
    table = data_table("waited", "wait", "switch", "cancel", "cancel rate", title="Choices")
    for band in found.choices:
        table.add_row(
            band.band, str(band.wait), str(band.switch), str(band.cancel), _share(band.cancel_rate)
        )
    out.print(table)


def _print_revenue(totals: dict[str, Money]) -> None:
    table = data_table("currency", "kept", "lost", "still waiting", title="Revenue")
    for currency, money in sorted(totals.items()):
        table.add_row(
            currency,
            amount_text(money.kept, currency),
            amount_text(money.lost, currency),
            amount_text(money.amount["waiting"], currency),
        )
    out.print(table if totals else "Nothing has been backordered yet.")
