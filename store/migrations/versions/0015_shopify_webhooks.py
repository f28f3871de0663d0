"""shopify webhooks

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 10:50:48

Shopify's inbound webhooks (``bot.integrations.shopify``): one row per delivery (exactly-once on
``X-Shopify-Webhook-Id``, and the record of what was refused and why), the Shopify orders placed
here with the ``updated_at`` last applied, and the inventory item -> SKU map.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shopify_inventory_items",
        sa.Column("inventory_item_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("variant_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("inventory_item_id", name=op.f("pk_shopify_inventory_items")),
    )
    with op.batch_alter_table("shopify_inventory_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shopify_inventory_items_sku"), ["sku"], unique=False)

    op.create_table(
        "shopify_webhooks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=True),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "handled",
                "refused",
                "stale",
                "ignored",
                name="outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("received_at", store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shopify_webhooks")),
        sa.UniqueConstraint("webhook_id", name=op.f("uq_shopify_webhooks_webhook_id")),
    )
    with op.batch_alter_table("shopify_webhooks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_shopify_webhooks_outcome", ["outcome", "received_at"], unique=False
        )

    op.create_table(
        "shopify_orders",
        sa.Column("shopify_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_shopify_orders_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("shopify_id", name=op.f("pk_shopify_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_shopify_orders_order_id")),
    )


def downgrade() -> None:
    op.drop_table("shopify_orders")
    with op.batch_alter_table("shopify_webhooks", schema=None) as batch_op:
        batch_op.drop_index("ix_shopify_webhooks_outcome")

    op.drop_table("shopify_webhooks")
    with op.batch_alter_table("shopify_inventory_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shopify_inventory_items_sku"))

    op.drop_table("shopify_inventory_items")
