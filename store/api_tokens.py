"""Agents' own API tokens: created and revoked by an admin (dashboard, CLI), shown once.

A token is ``bbt_`` and 43 characters of base64url (256 random bits). Only its SHA-256 is kept
(``store.tables_api_tokens``). :func:`verify` answers the enabled agent a live token belongs
to, so ``/api`` audits an action under that agent's verified username. Creating and revoking
are audit-logged under the admin's name; the token itself is never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import audit
from store.agents import normalize_username
from store.errors import InvalidInput, NotFound
from store.models import Agent
from store.tables_api_tokens import AgentApiToken

__all__ = ["TOKEN_PREFIX", "Issued", "TokenView", "issue", "list_tokens", "revoke", "verify"]

TOKEN_PREFIX = "bbt_"  # noqa: S105 (a marker, not a secret)
_SHOWN = len(TOKEN_PREFIX) + 6  # enough to tell tokens apart, far too little to guess one
# Writing last_used_at on every request would make every API read a write; once a minute is
# plenty to tell a token in use from a forgotten one.
_USE_GRANULARITY = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Issued:
    """A new token: ``token`` is shown to the admin once and never again."""

    id: int
    username: str
    token: str


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    username: str
    label: str
    prefix: str
    created_at: dt.datetime
    created_by: str
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revoked_by: str | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue(session: Session, username: str, label: str, *, now: dt.datetime, actor: str) -> Issued:
    """A new token for the agent ``username`` (disabled agents' tokens do not work)."""
    name = normalize_username(username)
    agent = session.scalars(select(Agent).where(Agent.username == name)).first()
    if agent is None:
        raise NotFound(f"agent {name} does not exist")
    label = " ".join(label.split())[:64]
    if not label:
        raise InvalidInput("name the token (what it is for, say 'helpdesk')", field="label")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = AgentApiToken(
        agent_id=agent.id,
        token_hash=_hash(token),
        prefix=token[:_SHOWN],
        label=label,
        created_at=now,
        created_by=actor[:64],
    )
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "api_token.issued", subject=f"agent:{name}", now=now,
        token_id=row.id, label=label,
    )  # fmt: skip
    return Issued(row.id, name, token)


def revoke(session: Session, token_id: int, *, now: dt.datetime, actor: str) -> TokenView:
    """Revoke a token at once (again: nothing changes)."""
    row = session.get(AgentApiToken, token_id, with_for_update=True)
    if row is None:
        raise NotFound(f"API token {token_id} does not exist")
    username = session.scalar(select(Agent.username).where(Agent.id == row.agent_id)) or "?"
    if row.revoked_at is None:
        row.revoked_at = now
        row.revoked_by = actor[:64]
        audit.record(
            session, actor, "api_token.revoked", subject=f"agent:{username}", now=now,
            token_id=row.id, label=row.label,
        )  # fmt: skip
    return _view(row, username)


def list_tokens(session: Session, username: str | None = None) -> list[TokenView]:
    """Every token (of one agent), newest first, revoked ones included."""
    query = select(AgentApiToken, Agent.username).join(Agent, Agent.id == AgentApiToken.agent_id)
    if username is not None:
        query = query.where(Agent.username == username.strip().lower())
    rows = session.execute(query.order_by(AgentApiToken.id.desc()))
    return [_view(row, name) for row, name in rows]


def verify(session: Session, token: str, *, now: dt.datetime) -> str | None:
    """The username of the enabled agent this live token is theirs, else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    found = session.execute(
        select(AgentApiToken, Agent.username)
        .join(Agent, Agent.id == AgentApiToken.agent_id)
        .where(
            AgentApiToken.token_hash == _hash(token),
            AgentApiToken.revoked_at.is_(None),
            Agent.disabled.is_(False),
        )
    ).first()
    if found is None:
        return None
    row, username = found
    if row.last_used_at is None or now - row.last_used_at >= _USE_GRANULARITY:
        row.last_used_at = now
    return str(username)


def _view(row: AgentApiToken, username: str) -> TokenView:
    return TokenView(
        id=row.id,
        username=username,
        label=row.label,
        prefix=row.prefix,
        created_at=row.created_at,
        created_by=row.created_by,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )
