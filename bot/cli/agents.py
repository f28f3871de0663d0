"""``backorder-bot agents add|create|list|remove|sign-out|password|tokens``: the support agents.

``--admin`` makes an admin, who manages the other agents in the dashboard (``/agent/agents``).

Passwords are prompted twice without echo (or read from stdin with ``--password-stdin`` for
scripts) and stored only as scrypt hashes (``store.agents``).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bot.cli import agent_tokens
from bot.cli.support import actor, context, data_table, fail, out, print_json
from store import agents, audit
from store.agent_sign_ins import end_all_sign_ins
from store.errors import StoreError
from store.models import utcnow

app = typer.Typer(
    help="Support agents (dashboard sign-in, Telegram agent commands).", no_args_is_help=True
)
app.add_typer(agent_tokens.app, name="tokens")


@app.command("add")
@app.command("create", help="The same as `add`.")
def add(
    ctx: typer.Context,
    username: str,
    telegram_user_id: Annotated[
        int | None,
        typer.Option(help="Telegram user id allowed to use the agent commands.", min=1),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    admin: Annotated[
        bool, typer.Option("--admin", help="An admin: adds, disables and resets agents.")
    ] = False,
) -> None:
    """Create an agent; the password is asked twice (hidden)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    db = context(ctx).database()
    try:
        with db.session() as session:
            agent = agents.add_agent(
                session,
                username,
                password,
                now=utcnow(),
                telegram_user_id=telegram_user_id,
                actor=actor(),
                is_admin=admin,
            )
            name = agent.username
    except StoreError as exc:
        fail(str(exc))
    out.print(f"{'admin' if admin else 'agent'} {name} added", highlight=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every agent, with their Telegram id and whether they are disabled."""
    db = context(ctx).database()
    with db.read_session() as session:
        rows = [
            {
                "username": a.username,
                "telegram_user_id": a.telegram_user_id,
                "disabled": a.disabled,
                "admin": a.is_admin,
                "created_at": a.created_at.isoformat(),
            }
            for a in agents.list_agents(session)
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No agents yet: add one with `backorder-bot agents add USERNAME`.")
        return
    table = data_table("username", "admin", "telegram user", "disabled", "created")
    for row in rows:
        table.add_row(
            str(row["username"]),
            "yes" if row["admin"] else "no",
            str(row["telegram_user_id"] or "-"),
            "yes" if row["disabled"] else "no",
            str(row["created_at"])[:10],
        )
    out.print(table)


@app.command("remove")
def remove(ctx: typer.Context, username: str) -> None:
    """Delete an agent (their past actions stay in the audit log)."""
    db = context(ctx).database()
    try:
        with db.session() as session:
            agents.remove_agent(session, username, now=utcnow(), actor=actor())
    except StoreError as exc:
        fail(str(exc))
    out.print(f"agent {username} removed", highlight=False)


@app.command("sign-out")
def sign_out(ctx: typer.Context, username: str) -> None:
    """End every dashboard session of an agent (a lost laptop, a copied cookie)."""
    db = context(ctx).database()
    name = username.strip().lower()
    with db.session() as session:
        if not any(a.username == name for a in agents.list_agents(session)):
            fail(f"agent {name} does not exist")
        ended = end_all_sign_ins(session, name)
        audit.record(session, actor(), "agent.signed_out", subject=f"agent:{name}", now=utcnow())
    out.print(f"agent {name} signed out everywhere ({ended} session(s) ended)", highlight=False)
