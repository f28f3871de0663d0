"""agent admin role

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 17:45:00

Admins manage the other agents from the dashboard (add, disable, reset). Agents that exist
when this runs become admins: before the role every agent could do everything, so nobody loses
a power they had and a shop is never left without anyone able to manage agents. New agents are
not admins unless made with ``backorder-bot agents add --admin``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(sa.text("UPDATE agents SET is_admin = :yes").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("is_admin")
