"""Migration 0025 files, once, the failed deliveries marked before failures were filed as they
happened: the inbox's reads no longer sweep for them, so nothing may be left behind."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from store.migrate import upgrade
from tests.store.test_migration_money import empty_url

__all__ = ["empty_url"]

_OUTBOX = (
    "INSERT INTO outbox_messages (dedupe_key, customer_id, channel, address, message, locale,"
    " body, urgent, status, attempts, last_error, due_at, created_at)"
    " VALUES (:key, :customer, 'sms', '+14155550100', 'broadcast', 'en', 'hi', false, :status,"
    " 1, :error, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)


def test_0025_files_old_failures_once(empty_url: str) -> None:
    upgrade(empty_url, "0024")
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (name, phone, locale, timezone, preferred_channel,"
                " sms_state, telegram_state, created_at) VALUES ('Ada', '+14155550100', 'en',"
                " 'UTC', 'sms', 'active', 'active', CURRENT_TIMESTAMP)"
            )
        )
        customer = conn.execute(text("SELECT id FROM customers")).scalar_one()
        for key, status, error in (
            ("failed", "failed", "21610: opted out"),
            ("undelivered", "undelivered", "30003"),
            ("unknown", "unknown", None),
            ("sent", "sent", None),
            ("filed", "failed", "already filed"),
        ):
            conn.execute(
                text(_OUTBOX), {"key": key, "customer": customer, "status": status, "error": error}
            )
        filed = conn.execute(
            text("SELECT id FROM outbox_messages WHERE dedupe_key = 'filed'")
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO inbox_items (kind, customer_id, channel, sender, outbox_id,"
                " message_count, created_at, last_at) VALUES ('delivery_failed', :c, 'sms',"
                " '+14155550100', :o, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"c": customer, "o": filed},
        )
    upgrade(empty_url, "0025")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT o.dedupe_key, i.kind, i.detail, i.closed_at FROM inbox_items i"
                " JOIN outbox_messages o ON o.id = i.outbox_id ORDER BY o.dedupe_key"
            )
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("failed", "delivery_failed", "21610: opted out", None),
        ("filed", "delivery_failed", None, None),
        ("undelivered", "delivery_failed", "30003", None),
        ("unknown", "delivery_unknown", None, None),
    ]
