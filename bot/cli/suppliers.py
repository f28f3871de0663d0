"""``backorder-bot suppliers ask|list|revoke``: asking suppliers for dates by e-mail.

``ask`` is the sweep (also run by ``backorder-bot sweep``): one e-mail per supplier that owes
dates, a reminder after SUPPLIER_REMINDER_DAYS, then the request shows as not answering.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.support import context, data_table, fail, out, print_json
from bot.suppliers.asking import AskingConfig, ask_suppliers
from store.models import utcnow
from store.supplier_requests import SweepPlan, not_answering, revoke_request
from store.suppliers import supplier_records

app = typer.Typer(help="Suppliers: contacts and asking them for dates.", no_args_is_help=True)


@app.command("ask")
def ask(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """E-mail every supplier that owes dates (once per open request; reminders when due)."""
    c = context(ctx)
    plan = ask_suppliers(c.database(), AskingConfig.from_settings(c.settings), utcnow())
    summary = sweep_summary(plan)
    if as_json:
        print_json(summary)
        return
    out.print(
        f"{len(plan.asked)} supplier request(s) queued, {len(plan.reminded)} reminder(s), "
        f"{len(plan.escalated)} escalated as not answering",
        highlight=False,
    )
    for name in plan.no_contact:
        out.print(f"{name}: owes dates but has no e-mail, Telegram or phone", highlight=False)


def sweep_summary(plan: SweepPlan) -> dict[str, Any]:
    return {
        "asked": [
            {"supplier": a.supplier_name, "skus": [i.sku for i in a.items]} for a in plan.asked
        ],
        "reminded": [a.supplier_name for a in plan.reminded],
        "escalated": plan.escalated,
        "no_contact": plan.no_contact,
    }


@app.command("list")
def list_suppliers(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Suppliers with their contacts and any open request."""
    with context(ctx).database().read_session() as session:
        records = supplier_records(session, utcnow())
    if as_json:
        print_json(records)
        return
    table = data_table("id", "name", "email", "locale", "timezone", "open request", "silent")
    for r in records:
        request = r["open_request"]
        table.add_row(
            str(r["id"]),
            r["name"],
            r["email"] or "-",
            r["locale"],
            r["timezone"],
            str(request["asked_at"])[:16] if request else "-",
            "yes" if request and request["escalated_at"] else "",
        )
    out.print(table)


@app.command("not-answering")
def silent(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Suppliers who answered neither a request nor its reminder."""
    with context(ctx).database().read_session() as session:
        rows = not_answering(session, utcnow())
    records = [
        {"supplier": s.supplier, "asked_at": s.asked_at.isoformat(), "skus": s.skus} for s in rows
    ]
    if as_json:
        print_json(records)
        return
    for record in records:
        out.print(
            f"{record['supplier']}: asked {record['asked_at'][:10]}, {', '.join(record['skus'])}"
        )
    if not records:
        out.print("Every supplier asked has answered or still has time.")


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="The request's id (see `suppliers list`).")],
) -> None:
    """Close a request's private link: it then answers 404, like any unknown link."""
    with context(ctx).database().session() as session:
        revoked = revoke_request(session, request_id, utcnow())
    if not revoked:
        fail(f"no live supplier request {request_id}")
    out.print(f"Supplier request {request_id}: link revoked.")
