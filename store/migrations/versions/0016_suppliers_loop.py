"""suppliers loop

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 17:38:58

Suppliers in the loop (issue 14, part A): supplier contacts (e-mail, phone, Telegram chat,
language, time zone), supplier requests and their items (``store.supplier_requests``), and
outbox rows addressed to a supplier by e-mail (``customer_id`` nullable, ``supplier_id``,
``channel`` may be ``email``, addresses up to 320 characters).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite_foreign_keys(*, on: bool) -> None:
    """Switch SQLite's foreign keys around the batch copy of outbox_messages.

    The copy drops and re-creates the table, which delivery_attempts references: with the keys
    on, the drop deletes the parent rows and fails (deferring the check does not help, since the
    renamed copy never counts as re-inserting them). The pragma is a no-op inside a
    transaction, and ``store.db`` opens every transaction itself (BEGIN IMMEDIATE, even in
    Alembic's autocommit block), so the transaction is closed and reopened at the driver level;
    called first and last, it closes nothing but the empty transaction around the migration.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if on:
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
    bind.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade() -> None:
    # First, before anything is written: the autocommit block commits what came before it.
    _sqlite_foreign_keys(on=False)
    op.create_table(
        "supplier_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("reminded_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("escalated_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("answered_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_supplier_requests_supplier_id_suppliers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_requests")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_supplier_requests_token_hash")),
    )
    with op.batch_alter_table("supplier_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_supplier_requests_open", ["supplier_id", "answered_at"], unique=False
        )

    op.create_table(
        "supplier_request_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("units_waiting", sa.Integer(), nullable=False),
        sa.Column("oldest_placed_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("eta_asked", sa.Date(), nullable=True),
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
            nullable=True,
        ),
        sa.Column("answered_eta", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_supplier_request_items_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["supplier_requests.id"],
            name=op.f("fk_supplier_request_items_request_id_supplier_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_request_items")),
        sa.UniqueConstraint(
            "request_id", "product_id", name=op.f("uq_supplier_request_items_request_id")
        ),
    )
    with op.batch_alter_table("supplier_request_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supplier_request_items_product_id"), ["product_id"], unique=False
        )

    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_outbox_messages_channel"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_outbox_messages_channel"), "channel IN ('sms', 'telegram', 'email')"
        )
        batch_op.add_column(sa.Column("supplier_id", sa.Integer(), nullable=True))
        batch_op.alter_column("customer_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.alter_column(
            "address",
            existing_type=sa.VARCHAR(length=64),
            type_=sa.String(length=320),
            existing_nullable=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_messages_supplier_id_suppliers"),
            "suppliers",
            ["supplier_id"],
            ["id"],
        )

    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("locale", sa.String(length=16), nullable=False, server_default="en")
        )
        batch_op.add_column(
            sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC")
        )
    _sqlite_foreign_keys(on=True)


def downgrade() -> None:
    _sqlite_foreign_keys(on=False)
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.drop_column("locale")
        batch_op.drop_column("telegram_chat_id")
        batch_op.drop_column("phone")
        batch_op.drop_column("email")

    op.execute(
        "DELETE FROM delivery_attempts WHERE outbox_id IN"
        " (SELECT id FROM outbox_messages WHERE supplier_id IS NOT NULL)"
    )
    op.execute("DELETE FROM outbox_messages WHERE supplier_id IS NOT NULL")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_outbox_messages_channel"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_outbox_messages_channel"), "channel IN ('sms', 'telegram')"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_messages_supplier_id_suppliers"), type_="foreignkey"
        )
        batch_op.alter_column(
            "address",
            existing_type=sa.String(length=320),
            type_=sa.VARCHAR(length=64),
            existing_nullable=False,
        )
        batch_op.alter_column("customer_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("supplier_id")

    with op.batch_alter_table("supplier_request_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supplier_request_items_product_id"))

    op.drop_table("supplier_request_items")
    with op.batch_alter_table("supplier_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_supplier_requests_open")

    op.drop_table("supplier_requests")
    _sqlite_foreign_keys(on=True)
