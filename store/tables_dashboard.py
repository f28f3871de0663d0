"""Work the dashboard keeps for an agent between two requests (``store.agent_drafts``).

A form posted after the session ran out, kept until the agent signs in again (``stash``), and
a previewed broadcast, kept so the preview is a page of its own that Back and reload can show
without posting again (``preview``). The row's key is the hash of a random token held in a
cookie (never in a URL, never logged); rows expire after minutes and are deleted when used.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, utcnow


class AgentDraft(Base):
    __tablename__ = "agent_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    # Who may read it back: None for a stash (the session had ended; the agent signing in
    # next with the cookie's token claims it), the agent for a preview.
    username: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(300))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
