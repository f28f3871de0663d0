"""The CLI's first second: `--help` imports none of the heavy libraries, a command imports only
what it needs, and the summaries `--help` shows without loading a command are its own help."""

import json
import subprocess
import sys

import click
import pytest
import typer
from typer.core import TyperGroup

from bot.cli import orders_group
from bot.cli.main import COMMANDS, app

HEAVY = ("fastapi", "starlette", "uvicorn", "telegram", "twilio", "aiohttp", "sqlalchemy", "jinja2")
WEB_AND_PROVIDERS = ("fastapi", "starlette", "uvicorn", "telegram", "twilio", "aiohttp")


def _modules_after(args: list[str], env_db: str | None = None, *, whole: bool = False) -> set[str]:
    """Run the CLI in a fresh interpreter and list the top-level packages it imported (with
    ``whole``, every module by its full name)."""
    script = (
        "import json, sys\n"
        f"sys.argv = ['backorder-bot', *{args!r}]\n"
        "from bot.cli.main import main\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "sys.stdout.flush()\n"
        f"names = sys.modules if {whole!r} else {{m.split('.')[0] for m in sys.modules}}\n"
        "print('\\nMODULES ' + json.dumps(sorted(names)))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "80"}
    if env_db is not None:
        env["DATABASE_URL"] = env_db
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def test_help_imports_no_heavy_library() -> None:
    loaded = _modules_after(["--help"])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_groups_help_loads_that_group_only() -> None:
    loaded = _modules_after(["orders", "--help"])
    assert not loaded & set(WEB_AND_PROVIDERS), sorted(loaded & set(WEB_AND_PROVIDERS))


def test_orders_show_imports_neither_the_web_app_nor_the_providers(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    from store.migrate import upgrade

    upgrade(url)
    loaded = _modules_after(["orders", "show", "NO-SUCH-ORDER"], url)
    assert "sqlite3" in loaded  # it did reach the database
    assert not loaded & set(WEB_AND_PROVIDERS), sorted(loaded & set(WEB_AND_PROVIDERS))


def test_orders_show_reads_without_sqlalchemy(tmp_path) -> None:
    """Issue 16 (<= 0.5 s): the ORM models, their mappers and Alembic cost it more than that,
    and importing SQLAlchemy's Core another 0.3 s (``bot.cli.order_reading``)."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    from store.migrate import upgrade

    upgrade(url)
    loaded = _modules_after(["orders", "show", "NO-SUCH-ORDER"], url, whole=True)
    assert "store.schema_version" in loaded  # the schema was checked
    heavy = {"sqlalchemy", "store.models", "alembic", "pydantic.v1", "phonenumbers"}
    assert not loaded & heavy, sorted(loaded & heavy)


@pytest.mark.parametrize("lazy", COMMANDS + orders_group.COMMANDS, ids=lambda lazy: lazy.name)
def test_each_summary_is_the_first_line_of_the_commands_own_help(lazy) -> None:
    command = lazy.load()
    assert command.name == lazy.name
    assert command.get_short_help_str(limit=1000) == lazy.summary


def test_help_lists_every_command_and_they_all_run() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    ctx = click.Context(group)
    names = group.list_commands(ctx)
    assert names == [lazy.name for lazy in COMMANDS]
    for name in names:
        command = group.get_command(ctx, name)
        assert command is not None
        assert command.help
