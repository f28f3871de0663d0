"""``backorder-bot inbox list|show|assign|close``: the agents' inbox from a terminal.

The same rules as the dashboard and ``/api/inbox`` (``store.inbox``): failed deliveries are
filed before listing, assigning an item another agent holds needs ``--take-over``, closing
twice changes nothing, and every change is in the audit log. Every command takes ``--json``.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.cli.support import actor, context, data_table, fail, out, print_json
from store import inbox
from store.agents import normalize_username
from store.errors import InvalidInput, StoreError
from store.models import Agent, InboundMessage, utcnow
from store.tables_inbox import InboxItem, InboxMessage

app = typer.Typer(help="The agents' inbox: what needs a person.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _item(view: inbox.ItemView) -> dict[str, Any]:
    return {
        "id": view.id, "kind": view.kind, "customer_id": view.customer_id,
        "customer_name": view.customer_name, "channel": view.channel, "sender": view.sender,
        "detail": view.detail, "message_count": view.message_count, "last_text": view.last_text,
        "last_at": view.last_at.isoformat(), "assigned_to": view.assigned_to,
        "closed_at": view.closed_at.isoformat() if view.closed_at else None,
        "closed_by": view.closed_by,
    }  # fmt: skip


@app.command("list")
def list_(
    ctx: typer.Context,
    state: Annotated[str, typer.Option(help="open, closed or all.")] = "open",
    assigned_to: Annotated[str | None, typer.Option(help="Only this agent's items.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this reason: human_requested...")] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    as_json: AsJson = False,
) -> None:
    """Open items (or closed, or all), latest activity first, 50 a page."""
    if state not in ("open", "closed", "all"):
        fail("--state is open, closed or all")
    db = context(ctx).database()

    def work(session: Session) -> tuple[inbox.InboxPage, dict[str, int]]:
        found = inbox.list_items(
            session, state=cast(inbox.State, state), assigned_to=assigned_to, kind=kind, page=page
        )
        return found, inbox.counts(session, assigned_to)

    try:
        found, counts = db.transaction(work)
    except InvalidInput as exc:
        fail(str(exc))
    rows = [_item(v) for v in found.items]
    if as_json:
        print_json({"items": rows, "total": found.total, "page": found.page,
                    "pages": found.pages, "counts": counts})  # fmt: skip
        return
    if not rows:
        out.print(f"Nothing {state} in the inbox.")
        return
    table = data_table("id", "why", "who", "msgs", "agent", "last text", wrap=("who", "last text"))
    for r in rows:
        who = r["customer_name"] or f"{r['channel']} {r['sender']}"
        text = r["last_text"] or r["detail"] or ""
        table.add_row(
            str(r["id"]), r["kind"].replace("_", " "), who, str(r["message_count"]),
            r["assigned_to"] or "-", text[:120],
        )  # fmt: skip
    out.print(table)
    out.print(f"Page {found.page} of {found.pages}; {counts['open']} open.", highlight=False)


@app.command("show")
def show(ctx: typer.Context, item_id: int, as_json: AsJson = False) -> None:
    """One item and every message filed under it, oldest first."""
    db = context(ctx).database()
    with db.read_session() as session:
        item = session.get(InboxItem, item_id)
        if item is None:
            fail(f"inbox item {item_id} does not exist")
        rows = session.execute(
            select(InboundMessage.received_at, InboxMessage.kind, InboundMessage.body)
            .join(InboxMessage, InboxMessage.inbound_id == InboundMessage.id)
            .where(InboxMessage.item_id == item_id)
            .order_by(InboundMessage.id)
        ).all()
        messages = [
            {"received_at": at.isoformat(), "kind": k.value, "text": body or ""}
            for at, k, body in rows
        ]
        head: dict[str, Any] = {
            "id": item.id, "kind": item.kind.value, "customer_id": item.customer_id,
            "channel": item.channel.value, "sender": item.sender, "detail": item.detail,
            "assigned_to": item.assigned_to, "closed_by": item.closed_by,
            "closed_at": item.closed_at.isoformat() if item.closed_at else None,
        }  # fmt: skip
    if as_json:
        print_json(head | {"messages": messages})
        return
    state = f"closed by {head['closed_by']}" if head["closed_at"] else "open"
    out.print(
        f"Item {item_id}: {head['kind'].replace('_', ' ')}, {state}, "
        f"assigned to {head['assigned_to'] or 'nobody'}.\n"
        f"From {head['channel']} {head['sender']} (customer {head['customer_id'] or 'unknown'}).",
        highlight=False,
    )
    if head["detail"]:
        out.print(f"Detail: {head['detail']}", highlight=False)
    table = data_table("received", "why", "text", wrap=("text",))
    for m in messages:
        when = m["received_at"][:16].replace("T", " ")
        table.add_row(when, m["kind"].replace("_", " "), m["text"])
    out.print(table)


@app.command("assign")
def assign(
    ctx: typer.Context,
    item_id: int,
    to: Annotated[str, typer.Option("--to", help="The agent who takes it.")],
    take_over: Annotated[bool, typer.Option(help="Take it from the agent holding it.")] = False,
    as_json: AsJson = False,
) -> None:
    """Give an item to an agent (theirs: "mine" on the dashboard)."""
    db = context(ctx).database()

    def work(session: Session) -> dict[str, Any]:
        name = normalize_username(to)
        if session.scalar(select(Agent.id).where(Agent.username == name)) is None:
            raise InvalidInput(f"agent {name} does not exist")
        item = inbox.assign(session, item_id, name, utcnow(), take_over=take_over)
        return {"id": item.id, "assigned_to": item.assigned_to}

    _write(db.transaction, work, as_json, "assigned to {assigned_to}")


@app.command("close")
def close(
    ctx: typer.Context,
    item_id: int,
    as_agent: Annotated[
        str | None, typer.Option("--as", help="The agent closing it (default: you at the CLI).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Close an item; a customer waiting for a person hears from the bot again."""
    db = context(ctx).database()
    who = actor() if as_agent is None else as_agent.strip().lower()[:64]

    def work(session: Session) -> dict[str, Any]:
        item = inbox.close(session, item_id, who, utcnow())
        return {"id": item.id, "closed_by": item.closed_by}

    _write(db.transaction, work, as_json, "closed by {closed_by}")


def _write(run: Any, work: Any, as_json: bool, done: str) -> None:
    try:
        result: dict[str, Any] = run(work)
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        out.print(f"inbox item {result['id']} " + done.format(**result), highlight=False)
