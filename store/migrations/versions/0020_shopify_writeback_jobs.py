"""shopify writeback jobs

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 17:39:50

Writes owed to the shop's Shopify (``store.tables_shopify.ShopifyJob``): one row per write, keyed
so that the same write enqueued twice is one job, with its attempts, when it is next due, and
why it failed or died; and where `shopify sync` is in each resource (its cursor), so a
sync stopped half-way resumes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shopify_jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "discount_code",
                "order_note",
                "order_edit",
                "order_cancel",
                name="shopify_job_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "done",
                "dead",
                name="shopify_job_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("shopify_order_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("result", sa.String(length=255), nullable=True),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("finished_at", store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_shopify_jobs_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shopify_jobs")),
        sa.UniqueConstraint("key", name=op.f("uq_shopify_jobs_key")),
    )
    with op.batch_alter_table("shopify_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_shopify_jobs_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_shopify_jobs_order_id"), ["order_id"], unique=False)

    op.create_table(
        "shopify_sync_state",
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("cursor", sa.String(length=1024), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("updated_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("finished_at", store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("resource", name=op.f("pk_shopify_sync_state")),
    )


def downgrade() -> None:
    op.drop_table("shopify_sync_state")
    with op.batch_alter_table("shopify_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shopify_jobs_order_id"))
        batch_op.drop_index("ix_shopify_jobs_due")

    op.drop_table("shopify_jobs")
