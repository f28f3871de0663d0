"""inbound messages by customer

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:40:00

A customer's timeline reads their texts newest first; without an index on
``(customer_id, received_at)`` each customer page scanned every inbound message of the shop
(measured in ``bench/bench_timeline.py``: 54 ms a page at 200,000 texts on SQLite, growing
with the table).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_messages_customer", ["customer_id", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_messages_customer")
