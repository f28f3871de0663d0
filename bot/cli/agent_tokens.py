"""``backorder-bot agents tokens issue|list|revoke``: agents' own API tokens (``store.api_tokens``).

An action through ``/api`` with an agent's token is audited under that agent's username. The
token is printed once, when issued; only its hash is kept, so a lost token is revoked and
issued again, never shown again.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.support import actor, context, data_table, fail, out, print_json
from store import api_tokens
from store.errors import StoreError
from store.models import utcnow

app = typer.Typer(help="Agents' own API tokens (issued once, revocable).", no_args_is_help=True)


@app.command("issue")
def issue(
    ctx: typer.Context,
    username: str,
    label: Annotated[str, typer.Option(help="What the token is for (shown in the list).")],
) -> None:
    """Issue an API token for an agent; it is printed once, keep it."""
    db = context(ctx).database()
    try:
        with db.session() as session:
            issued = api_tokens.issue(session, username, label, now=utcnow(), actor=actor())
    except StoreError as exc:
        fail(str(exc))
    out.print(f"token {issued.id} for {issued.username} (shown once):", highlight=False)
    print(issued.token)  # alone on its line, for scripts; never logged


@app.command("list")
def list_(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Argument(help="Only this agent's tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every token (not the token itself: its first characters), revoked ones too."""
    db = context(ctx).database()
    with db.read_session() as session:
        views = api_tokens.list_tokens(session, username)
    rows = [
        {
            "id": v.id, "agent": v.username, "label": v.label, "prefix": v.prefix,
            "created_at": v.created_at.isoformat(), "created_by": v.created_by,
            "last_used_at": v.last_used_at.isoformat() if v.last_used_at else None,
            "revoked_at": v.revoked_at.isoformat() if v.revoked_at else None,
        }
        for v in views
    ]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No API tokens: issue one with `backorder-bot agents tokens issue USERNAME`.")
        return
    table = data_table("id", "agent", "label", "starts", "created", "last used", "revoked")
    for row in rows:
        table.add_row(
            str(row["id"]), str(row["agent"]), str(row["label"]), f"{row['prefix']}…",
            str(row["created_at"])[:10], str(row["last_used_at"] or "-")[:10],
            str(row["revoked_at"] or "-")[:10],
        )  # fmt: skip
    out.print(table)


@app.command("revoke")
def revoke(ctx: typer.Context, token_id: int) -> None:
    """Revoke a token at once (by the id `list` shows)."""
    db = context(ctx).database()
    try:
        with db.session() as session:
            view = api_tokens.revoke(session, token_id, now=utcnow(), actor=actor())
    except StoreError as exc:
        fail(str(exc))
    out.print(f"token {view.id} of {view.username} revoked", highlight=False)
