"""Migration 0022 folds conversations opened twice (the race it closes) into one item before
it makes "one open item per conversation" a unique index: no message is lost on the way."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from store.migrate import upgrade
from tests.store.test_migration_money import empty_url  # noqa: F401  (the fixture)

_ITEM = (
    "INSERT INTO inbox_items (id, kind, customer_id, channel, sender, message_count,"
    " created_at, last_at, closed_at) VALUES (:id, 'not_understood', :customer, 'sms', :sender,"
    " 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, NULL)"
)
_INBOUND = (
    "INSERT INTO inbound_messages (id, channel, provider_id, sender, received_at, missed)"
    " VALUES (:id, 'sms', :pid, :sender, CURRENT_TIMESTAMP, false)"
)
_FILED = (
    "INSERT INTO inbox_messages (inbound_id, item_id, kind) VALUES (:id, :item, 'not_understood')"
)


def test_duplicate_open_items_are_merged_into_the_oldest(empty_url: str) -> None:  # noqa: F811
    upgrade(empty_url, "0021")
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, name, phone, locale, timezone, preferred_channel,"
                " sms_state, telegram_state, created_at) VALUES (1, 'Ada', '+14155550100', 'en',"
                " 'UTC', 'sms', 'active', 'active', CURRENT_TIMESTAMP)"
            )
        )
        rows = [(1, 1, "+14155550100"), (2, 1, "+14155550100"), (3, None, "+14155550199")]
        rows += [(4, None, "+14155550199"), (5, None, "+14155550198")]
        for item, customer, sender in rows:
            conn.execute(text(_ITEM), {"id": item, "customer": customer, "sender": sender})
            conn.execute(text(_INBOUND), {"id": item, "pid": f"SM{item}", "sender": sender})
            conn.execute(text(_FILED), {"id": item, "item": item})
    upgrade(empty_url)
    with engine.begin() as conn:
        items = conn.execute(text("SELECT id, message_count FROM inbox_items ORDER BY id")).all()
        filed = conn.execute(text("SELECT inbound_id, item_id FROM inbox_messages")).all()
    engine.dispose()
    assert [tuple(r) for r in items] == [(1, 2), (3, 2), (5, 1)]
    assert sorted(tuple(r) for r in filed) == [(1, 1), (2, 1), (3, 3), (4, 3), (5, 5)]
