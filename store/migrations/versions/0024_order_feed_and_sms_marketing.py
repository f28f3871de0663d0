"""order feed events and sms marketing consent

Revision ID: 0024
Revises: 0021
Create Date: 2026-12-04 01:13:54

The signed order feed's events (``store.tables_orderfeed``): one row per event id, so a repeat
is handled once, with its outcome and reason and what it is about (an order, a SKU's count) for
the out-of-order check. And each customer's SMS marketing consent as Shopify records it
(``store.tables_consent``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_feed_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("resource", sa.String(length=100), nullable=True),
        sa.Column("occurred_at", store.models.UTCDateTime(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "applied",
                "refused",
                "stale",
                name="feed_outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("received_at", store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_feed_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_order_feed_events_event_id")),
    )
    with op.batch_alter_table("order_feed_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_order_feed_events_outcome", ["outcome", "received_at"], unique=False
        )
        batch_op.create_index(
            "ix_order_feed_events_resource", ["resource", "occurred_at"], unique=False
        )

    op.create_table(
        "sms_marketing_consents",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "subscribed",
                "not_subscribed",
                "unsubscribed",
                "pending",
                "redacted",
                name="marketing_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("opt_in_level", sa.String(length=32), nullable=True),
        sa.Column("consent_updated_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("collected_from", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("updated_at", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_sms_marketing_consents_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_sms_marketing_consents")),
    )


def downgrade() -> None:
    op.drop_table("sms_marketing_consents")
    with op.batch_alter_table("order_feed_events", schema=None) as batch_op:
        batch_op.drop_index("ix_order_feed_events_resource")
        batch_op.drop_index("ix_order_feed_events_outcome")

    op.drop_table("order_feed_events")
