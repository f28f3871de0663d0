"""order lines' milestones for the analytics

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 17:50:00

``order_lines.backordered_at``, ``allocated_at`` and ``shipped_at``: the moments a line began to
wait, had its last unit reserved and had its last unit shipped, written by the store as each
happens (``store/analytics`` measures waits with them, exactly). Rows from before are filled from
what recorded those moments then: the ``backordered`` and ``ready_to_ship`` events, the line's
own creation for lines reserved whole when placed or switched to, and the shipments. Replacement
lines written by a switch before this revision had no price; they get their product's current
one, as revision 0011 did for every line. An index on ``eta_changes (product_id, created_at)``
lets the scorecard find the date in force at each receipt; a partial index of the lines that
waited, holding every column the analytics read, keeps them off the table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A partial index of the lines that waited, holding every column the analytics read.
_BACKORDERED_COLUMNS = (
    "backordered_at",
    "product_id",
    "status",
    "quantity",
    "unit_price_cents",
    "currency",
    "replaced_by_line_id",
    "allocated_at",
    "shipped_at",
)


def upgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backordered_at", store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("allocated_at", store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("shipped_at", store.models.UTCDateTime(), nullable=True))
        batch_op.create_index(
            "ix_order_lines_backordered",
            list(_BACKORDERED_COLUMNS),
            unique=False,
            postgresql_where=sa.text("backordered_at IS NOT NULL"),
            sqlite_where=sa.text("backordered_at IS NOT NULL"),
        )
    with op.batch_alter_table("eta_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_eta_changes_product_created", ["product_id", "created_at"], unique=False
        )
    _backfill()


def _backfill() -> None:
    op.execute(
        "UPDATE order_lines SET backordered_at = (SELECT MIN(e.created_at) FROM domain_events e"
        " WHERE e.line_id = order_lines.id AND e.kind = 'backordered')"
    )
    op.execute(
        "UPDATE order_lines SET allocated_at = (SELECT MIN(e.created_at) FROM domain_events e"
        " WHERE e.line_id = order_lines.id AND e.kind = 'ready_to_ship')"
    )
    # Reserved whole when placed (never waited) or when switched to: reserved at creation.
    op.execute(
        "UPDATE order_lines SET allocated_at = created_at"
        " WHERE allocated_at IS NULL AND backordered_at IS NULL"
        " AND status IN ('allocated', 'shipped')"
    )
    op.execute(
        "UPDATE order_lines SET shipped_at = (SELECT MAX(s.created_at) FROM shipment_lines sl"
        " JOIN shipments s ON s.id = sl.shipment_id WHERE sl.line_id = order_lines.id)"
        " WHERE status = 'shipped'"
    )
    op.execute(
        "UPDATE order_lines SET"
        " unit_price_cents = (SELECT p.price_cents FROM products p"
        " WHERE p.id = order_lines.product_id),"
        " currency = (SELECT p.currency FROM products p WHERE p.id = order_lines.product_id)"
        " WHERE unit_price_cents IS NULL AND replaces_line_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("eta_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_eta_changes_product_created")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_order_lines_backordered",
            postgresql_where=sa.text("backordered_at IS NOT NULL"),
            sqlite_where=sa.text("backordered_at IS NOT NULL"),
        )
        batch_op.drop_column("shipped_at")
        batch_op.drop_column("allocated_at")
        batch_op.drop_column("backordered_at")
