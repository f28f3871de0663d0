"""Server-side record of the dashboard's sessions, so signing out revokes them.

The session cookie stays signed (``bot.web.agent.session``); this table is what makes it
revocable. A cookie is honoured only while the row of its nonce exists and has not expired:
signing out deletes that row, "sign out everywhere" deletes every row of the agent, and removing
the agent deletes them all by cascade. Only a hash of the nonce is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.models import Agent, AgentSignIn

__all__ = ["end_all_sign_ins", "end_sign_in", "is_signed_in", "start_sign_in"]


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("utf-8", "surrogatepass")).hexdigest()


def start_sign_in(
    session: Session, username: str, nonce: str, *, now: dt.datetime, expires_at: dt.datetime
) -> None:
    """Record a new session of ``username``; sweeps every agent's expired sessions first."""
    session.execute(delete(AgentSignIn).where(AgentSignIn.expires_at <= now))
    agent_id = session.scalar(select(Agent.id).where(Agent.username == username))
    if agent_id is None:
        raise LookupError(f"agent {username} does not exist")
    session.add(
        AgentSignIn(
            nonce_hash=_hash(nonce), agent_id=agent_id, created_at=now, expires_at=expires_at
        )
    )


def is_signed_in(session: Session, username: str, nonce: str, *, now: dt.datetime) -> bool:
    """Whether the session of this nonce is still live and belongs to ``username``."""
    found = session.scalar(
        select(AgentSignIn.nonce_hash)
        .join(Agent, Agent.id == AgentSignIn.agent_id)
        .where(
            AgentSignIn.nonce_hash == _hash(nonce),
            Agent.username == username,
            AgentSignIn.expires_at > now,
        )
    )
    return found is not None


def end_sign_in(session: Session, nonce: str) -> None:
    """Revoke one session (signing out of one browser)."""
    session.execute(delete(AgentSignIn).where(AgentSignIn.nonce_hash == _hash(nonce)))


def end_all_sign_ins(session: Session, username: str) -> int:
    """Revoke every session of ``username`` (signing out everywhere); how many there were."""
    agent_id = select(Agent.id).where(Agent.username == username).scalar_subquery()
    result = session.execute(delete(AgentSignIn).where(AgentSignIn.agent_id == agent_id))
    return int(getattr(result, "rowcount", 0) or 0)
