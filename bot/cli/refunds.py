"""``backorder-bot refunds list|settle``: the refunds customers were promised, until paid.

Every cancelled line owes its refund (``store.refunds``); the shop pays it on its own platform
and then settles it here, with the payment's reference, so the list of due refunds is the list
of promises not yet kept.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.support import context, data_table, fail, out, print_json
from store.errors import StoreError
from store.models import utcnow
from store.refunds import refund_record, refunds, settle_refund

app = typer.Typer(help="Refunds owed for cancelled items.", no_args_is_help=True)


@app.command("list")
def list_refunds(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="Settled refunds too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Refunds the shop still owes, oldest first (with --all, settled ones too)."""
    with context(ctx).database().read_session() as session:
        records = [refund_record(r) for r in refunds(session, due_only=not show_all)]
    if as_json:
        print_json(records)
        return
    if not records:
        out.print("No refunds due." if not show_all else "No refunds yet.")
        return
    table = data_table(
        "id", "order", "sku", "qty", "amount", "reason", "owed since", "settled", wrap=("reason",)
    )
    for r in records:
        table.add_row(
            str(r["id"]),
            str(r["order_number"]),
            str(r["sku"]),
            str(r["quantity"]),
            f"{r['amount']} {r['currency']}",
            str(r["reason"]),
            str(r["created_at"])[:16],
            str(r["reference"] or "yes") if r["settled_at"] else "due",
        )
    out.print(table)


@app.command("settle")
def settle(
    ctx: typer.Context,
    refund_id: Annotated[int, typer.Argument(help="The refund's id (see `refunds list`).")],
    reference: Annotated[
        str | None, typer.Option(help="The payment provider's id of the refund.")
    ] = None,
    by: Annotated[str, typer.Option(help="Who paid it back.")] = "cli",
) -> None:
    """Record that a refund has been paid back (again, with the same reference: a no-op)."""
    try:
        with context(ctx).database().session() as session:
            refund = settle_refund(session, refund_id, by=by, reference=reference, now=utcnow())
            record = refund_record(refund)
    except StoreError as exc:
        fail(str(exc))
    out.print(
        f"Refund {record['id']} ({record['amount']} {record['currency']}, order"
        f" {record['order_number']}) is settled.",
        highlight=False,
    )
