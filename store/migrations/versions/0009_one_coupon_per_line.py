"""one coupon per line

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 21:05:00

A line keeps its first wait coupon through later rounds of choices: the code moves to
``order_lines.coupon_code`` (unique), and offers keep a non-unique copy.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("coupon_code", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_order_lines_coupon_code"), ["coupon_code"])
    # A line that already earned several codes keeps its first one.
    op.execute(
        "UPDATE order_lines SET coupon_code = (SELECT o.coupon_code FROM offers o"
        " WHERE o.line_id = order_lines.id AND o.coupon_code IS NOT NULL"
        " ORDER BY o.id LIMIT 1)"
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_offers_coupon_code"), type_="unique")
        batch_op.create_index(batch_op.f("ix_offers_coupon_code"), ["coupon_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offers_coupon_code"))
        batch_op.create_unique_constraint(batch_op.f("uq_offers_coupon_code"), ["coupon_code"])
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_order_lines_coupon_code"), type_="unique")
        batch_op.drop_column("coupon_code")
