"""agent sign-ins

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:24:51

The dashboard's sessions, recorded server-side so that signing out revokes them
(``store.agent_sign_ins``). Cookies issued before this revision have no row: agents sign in
again once after the upgrade.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_sign_ins",
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_sign_ins_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("nonce_hash", name=op.f("pk_agent_sign_ins")),
    )
    with op.batch_alter_table("agent_sign_ins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_sign_ins_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_agent_sign_ins_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_sign_ins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_sign_ins_expires_at"))
        batch_op.drop_index(batch_op.f("ix_agent_sign_ins_agent_id"))

    op.drop_table("agent_sign_ins")
