"""supplier answers per purchase order line

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-04 01:11:11

What a supplier answered on the supplier page per purchase-order line
(``store.tables_suppliers.SupplierLineAnswer``): confirmed, a new date, or unknown, beside the
per-SKU answer the request's items already keep. And three indexes for the analytics at a
million order lines: the lines that waited in SKU order (revenue per SKU streams its groups),
the lines still waiting with their units (the scorecard's open backorders), and the decided
offers with the columns the choices-by-wait chart reads.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_OPEN = "status = 'backordered'"
_WAITED = "backordered_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_order_lines_backordered_product",
            ["product_id", "status", "currency", "quantity", "unit_price_cents"],
            unique=False,
            postgresql_where=sa.text(_WAITED),
            sqlite_where=sa.text(_WAITED),
        )
        batch_op.create_index(
            "ix_order_lines_open_backorders",
            ["product_id", "backordered_quantity"],
            unique=False,
            postgresql_where=sa.text(_OPEN),
            sqlite_where=sa.text(_OPEN),
        )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_offers_decisions",
            ["status", "choice", "line_id", "decided_at", "decided_via"],
            unique=False,
        )
    op.create_table(
        "supplier_line_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("purchase_order_line_id", sa.Integer(), nullable=False),
        sa.Column(
            "answer",
            sa.Enum(
                "confirmed",
                "changed",
                "unknown",
                name="answer",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("answered_eta", sa.Date(), nullable=True),
        sa.Column("answered_at", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["supplier_request_items.id"],
            name=op.f("fk_supplier_line_answers_item_id_supplier_request_items"),
        ),
        sa.ForeignKeyConstraint(
            ["purchase_order_line_id"],
            ["purchase_order_lines.id"],
            name=op.f("fk_supplier_line_answers_purchase_order_line_id_purchase_order_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_line_answers")),
        sa.UniqueConstraint(
            "item_id", "purchase_order_line_id", name=op.f("uq_supplier_line_answers_item_id")
        ),
    )
    with op.batch_alter_table("supplier_line_answers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supplier_line_answers_purchase_order_line_id"),
            ["purchase_order_line_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("supplier_line_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supplier_line_answers_purchase_order_line_id"))

    op.drop_table("supplier_line_answers")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index("ix_offers_decisions")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_order_lines_open_backorders",
            postgresql_where=sa.text(_OPEN),
            sqlite_where=sa.text(_OPEN),
        )
        batch_op.drop_index(
            "ix_order_lines_backordered_product",
            postgresql_where=sa.text(_WAITED),
            sqlite_where=sa.text(_WAITED),
        )
