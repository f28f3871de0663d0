from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from store.db import Database
from store.migrate import alembic_config, current_revision


def test_database_is_migrated_to_head(db: Database) -> None:
    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    assert head is not None
    assert current_revision(db.url) == head


def test_migrated_schema_has_every_model_table(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert {"customers", "products", "orders", "order_lines", "offers", "domain_events"} <= tables
