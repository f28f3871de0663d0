"""inbox files old delivery failures

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04 20:30:00

Since 0022 every writer that marks a delivery failed, undelivered or unknown files it in the
agents' inbox in the same transaction (``store.inbox.file_delivery_failures``). Rows marked
before that were found by a sweep that every inbox read ran, a write on each GET that read the
whole outbox's failures. This files them once, here, so the reads only read.
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain SQL, not the application's models: a migration must mean the same thing whatever the
# code becomes. The columns and values are those of 0022's inbox_items and 0002's outbox.
_FILE_OLD_FAILURES = sa.text(
    """
    INSERT INTO inbox_items
        (kind, customer_id, channel, sender, outbox_id, detail, message_count, created_at, last_at)
    SELECT CASE WHEN o.status = 'unknown' THEN 'delivery_unknown' ELSE 'delivery_failed' END,
           o.customer_id, o.channel, substr(o.address, 1, 64), o.id,
           substr(o.last_error, 1, 300), 0, :now, :now
    FROM outbox_messages o
    WHERE o.status IN ('failed', 'undelivered', 'unknown')
      AND NOT EXISTS (SELECT 1 FROM inbox_items i WHERE i.outbox_id = o.id)
    """
)


def upgrade() -> None:
    # Stored naive UTC, as store.models.UTCDateTime stores every time.
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    statement = _FILE_OLD_FAILURES.bindparams(sa.bindparam("now", type_=sa.DateTime()))
    op.get_bind().execute(statement, {"now": now})


def downgrade() -> None:
    # The items are the agents' work (assigned, closed, by whom): they stay.
    pass
