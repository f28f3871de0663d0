"""Keeping and taking back the dashboard's drafts (``store.tables_dashboard.AgentDraft``).

The caller holds a random token (in a cookie); only its SHA-256 is stored, so a copy of the
table cannot be used to read anyone's draft through the dashboard. Expired rows are deleted
whenever a new one is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.tables_dashboard import AgentDraft

STASH = "stash"
PREVIEW = "preview"


def keep(
    session: Session,
    purpose: str,
    *,
    path: str,
    fields: dict[str, Any],
    now: dt.datetime,
    ttl: dt.timedelta,
    username: str | None = None,
) -> str:
    """Store a draft; returns the token that reads it back."""
    session.execute(delete(AgentDraft).where(AgentDraft.expires_at <= now))
    token = secrets.token_urlsafe(24)
    session.add(
        AgentDraft(
            token_hash=_hash(token),
            purpose=purpose,
            username=username,
            path=path[:300],
            fields=fields,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return token


def find(session: Session, token: str | None, purpose: str, now: dt.datetime) -> AgentDraft | None:
    """The live draft of this token and purpose, or None."""
    if not token or len(token) > 64:
        return None
    draft = session.scalars(select(AgentDraft).where(AgentDraft.token_hash == _hash(token))).first()
    if draft is None or draft.purpose != purpose or draft.expires_at <= now:
        return None
    return draft


def take(session: Session, token: str | None, purpose: str, now: dt.datetime) -> AgentDraft | None:
    """Like :func:`find`, and the draft is deleted: a stash is given back once."""
    draft = find(session, token, purpose, now)
    if draft is not None:
        session.delete(draft)
    return draft


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
