"""The audit log: who did what, when, written in the transaction that did it.

Agents' actions that reach customers or change who may act (broadcasts, agents) are recorded
here so that "who sent this to 40,000 people at 3 a.m.?" always has an answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.events import payload_of
from store.models import AuditEntry


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    subject: str | None = None,
    now: dt.datetime,
    **details: Any,
) -> AuditEntry:
    """Add one entry; the caller's transaction commits it together with the action."""
    entry = AuditEntry(
        at=now, actor=actor[:100], action=action, subject=subject, details=payload_of(**details)
    )
    session.add(entry)
    return entry


def recent(
    session: Session, *, subject: str | None = None, limit: int = 100
) -> Sequence[AuditEntry]:
    """The latest entries, newest first (optionally about one subject, e.g. ``broadcast:7``)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    return session.scalars(query).all()
