"""agent drafts

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 17:51:19

What the dashboard keeps for an agent between two requests (``store.tables_dashboard``): a form
posted after the session ran out, until they sign in again, and a previewed broadcast, so the
preview is a page Back and reload show without posting again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_drafts")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agent_drafts_token_hash")),
    )
    with op.batch_alter_table("agent_drafts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_drafts_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_drafts_expires_at"))

    op.drop_table("agent_drafts")
