"""``backorder-bot outbox``: what waits, what failed, what needs a decision."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.cli.support import context, data_table, err, fail, out, print_json
from messaging import outbox
from store.models import DomainEvent, OutboxMessage, OutboxStatus, utcnow

app = typer.Typer(
    help="Outgoing messages: what waits, what failed, what needs a decision.",
    invoke_without_command=True,
)
RETRYABLE = (OutboxStatus.FAILED, OutboxStatus.UNKNOWN)


def _events_waiting(session: Session) -> int:
    """Events no ``dispatch`` has turned into messages yet: the outbox cannot show them."""
    query = select(func.count()).select_from(DomainEvent).where(DomainEvent.handled_at.is_(None))
    return session.scalar(query) or 0


def _row(row: OutboxMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status.value,
        "channel": row.channel.value,
        "message": row.message,
        "customer_id": row.customer_id,
        "attempts": row.attempts,
        "due_at": row.due_at.isoformat(),
        "last_error": row.last_error,
    }


@app.callback()
def outbox_list(
    ctx: typer.Context,
    status: Annotated[
        list[OutboxStatus] | None,
        typer.Option(
            metavar="STATUS",
            show_choices=False,
            help=f"Rows in this status (repeatable): {', '.join(s.value for s in OutboxStatus)}. "
            "Default: failed and unknown.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Counts by status, events waiting for `dispatch`, and the rows that need a person."""
    if ctx.invoked_subcommand is not None:
        return
    db = context(ctx).database()
    wanted = status or list(RETRYABLE)
    with db.read_session() as session:
        counts = outbox.counts_by_status(session)
        waiting = _events_waiting(session)
        query = select(OutboxMessage).where(OutboxMessage.status.in_(wanted))
        rows = [
            _row(r) for r in session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit))
        ]
    if as_json:
        print_json({"counts": counts, "events_waiting": waiting, "rows": rows})
        return
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    out.print(f"Messages: {summary}." if summary else "No messages in the outbox.")
    if waiting:
        out.print(
            f"{waiting} event(s) wait for `backorder-bot dispatch` to become messages.",
            highlight=False,
        )
    if rows:
        table = data_table(
            "id",
            "status",
            "channel",
            "message",
            "customer",
            "tries",
            "last error",
            wrap=("last error",),
        )
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["status"],
                r["channel"],
                r["message"],
                str(r["customer_id"]),
                str(r["attempts"]),
                r["last_error"] or "-",
            )
        out.print(table)


@app.command("retry")
def outbox_retry(
    ctx: typer.Context,
    ids: Annotated[
        list[int], typer.Argument(metavar="ID...", help="Outbox row ids (failed or unknown).")
    ],
) -> None:
    """Send failed or unknown messages again.

    Retry an unknown one only when you know it did not arrive (the customer says so)."""
    db = context(ctx).database()
    with db.session() as session:
        query = select(OutboxMessage.id, OutboxMessage.status).where(OutboxMessage.id.in_(ids))
        found = {row_id: row_status for row_id, row_status in session.execute(query)}
        moved = outbox.retry_rows(session, ids, utcnow())
    for row_id in ids:
        if row_id not in found:
            err.print(f"there is no message {row_id} in the outbox", highlight=False)
        elif found[row_id] not in RETRYABLE:
            err.print(
                f"message {row_id} is {found[row_id].value}: only failed or unknown ones are "
                "retried",
                highlight=False,
            )
    out.print(f"{moved} of {len(ids)} message(s) queued again")
    if moved < len(ids):
        fail(f"{len(ids) - moved} message(s) not queued (see above)")
