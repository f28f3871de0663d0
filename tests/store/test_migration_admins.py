"""Migration 0019 adds the admin role without leaving a shop with nobody to manage agents."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from store.migrate import upgrade
from tests.store.test_migration_money import empty_url  # noqa: F401  (the fixture)


def test_agents_that_existed_before_the_role_are_admins_and_new_ones_are_not(
    empty_url: str,  # noqa: F811
) -> None:
    upgrade(empty_url, "0018")
    engine = create_engine(empty_url)
    insert = text(
        "INSERT INTO agents (username, password_hash, disabled, created_at)"
        " VALUES (:name, 'x', :off, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        conn.execute(insert, {"name": "ana", "off": False})
        conn.execute(insert, {"name": "bo", "off": True})
    upgrade(empty_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO agents (username, password_hash, disabled, created_at)"
                " VALUES ('new', 'x', false, CURRENT_TIMESTAMP)"
            )
        )
        admins = dict(conn.execute(text("SELECT username, is_admin FROM agents")).all())
    engine.dispose()
    assert {name: bool(flag) for name, flag in admins.items()} == {
        "ana": True,
        "bo": True,
        "new": False,
    }
