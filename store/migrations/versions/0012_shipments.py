"""shipments

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:41:32

Orders end: shipments and their lines, and each order line"s shipped units (part of its
allocated units, by a CHECK). Event kinds are plain strings (``domain_events.kind`` is a
``String(32)`` with no CHECK), so the new ``shipped`` event needs no schema change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=True),
        sa.Column("tracking_number", sa.String(length=64), nullable=True),
        sa.Column("tracking_url", sa.String(length=500), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_shipments_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_shipments_idempotency_key")),
    )
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipments_order_id"), ["order_id"], unique=False)

    op.create_table(
        "shipment_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_shipment_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_shipment_lines_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name=op.f("fk_shipment_lines_shipment_id_shipments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_lines")),
        sa.UniqueConstraint("shipment_id", "line_id", name=op.f("uq_shipment_lines_shipment_id")),
    )
    with op.batch_alter_table("shipment_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipment_lines_line_id"), ["line_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_shipment_lines_shipment_id"), ["shipment_id"], unique=False
        )

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shipped_quantity", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_order_lines_shipped_within_allocated"),
            "shipped_quantity >= 0 AND shipped_quantity <= allocated_quantity",
        )


def downgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_order_lines_shipped_within_allocated"), type_="check"
        )
        batch_op.drop_column("shipped_quantity")

    with op.batch_alter_table("shipment_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipment_lines_shipment_id"))
        batch_op.drop_index(batch_op.f("ix_shipment_lines_line_id"))

    op.drop_table("shipment_lines")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipments_order_id"))

    op.drop_table("shipments")
