"""Agents' own API tokens (``store.api_tokens``): an action through ``/api`` with one of these
is audited under the agent's verified username, not under the shop-wide token's ``api``.

Only the SHA-256 of a token is stored (the token is 256 random bits, so a fast hash is enough
and a database leak hands out no access); ``prefix`` is its first characters, shown so an admin
can tell tokens apart. Rows go with their agent (``ON DELETE CASCADE``); a revoked token stays,
so the list shows who revoked it and when.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, utcnow

__all__ = ["AgentApiToken"]


class AgentApiToken(Base):
    __tablename__ = "agent_api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))
