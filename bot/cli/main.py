"""The ``backorder-bot`` command line (Typer + Rich).

Settings are read once here, at the entry point, and handed down as plain values. Every listing
takes ``--json`` and then prints only JSON on stdout. Results go to stdout; errors, warnings and
progress to stderr. Failures exit non-zero with one line on stderr: 1 for a refused operation,
2 for bad configuration or usage, 3 for a database that cannot be used (``bot/cli/database.py``).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.lazy import LazyCommand, lazy_group
from bot.cli.support import err, out
from bot.cli.support import fail as _fail

if TYPE_CHECKING:
    from bot.settings import Settings
    from store.db import Database

# In the order `--help` lists them. Each module is imported only when its command runs.
COMMANDS = (
    LazyCommand(
        "broadcast",
        "bot.cli.broadcast:broadcast",
        "Send a message to everyone matching the filters, once each, within the rate limits.",
    ),
    LazyCommand(
        "import",
        "bot.cli.imports:import_file",
        "Import a CSV file: every row checked before any is written; bad rows listed by line.",
    ),
    LazyCommand(
        "backorders",
        "bot.cli.listings:backorders_cmd",
        "Waiting lines grouped by SKU, oldest order first.",
    ),
    LazyCommand(
        "report",
        "bot.cli.report:app",
        "Reports: backorders by SKU; `suppliers` and `waiting` for the analytics.",
    ),
    LazyCommand(
        "sweep",
        "bot.cli.operations:sweep",
        "Expire offers, record due delay notices, resume broadcasts, ask suppliers (run hourly).",
    ),
    LazyCommand(
        "dispatch",
        "bot.cli.operations:dispatch",
        "Turn new events into messages and deliver due ones; runs until SIGTERM or Ctrl-C.",
    ),
    LazyCommand(
        "serve",
        "bot.cli.operations:serve",
        "Run the web app (webhooks, health, metrics) and, by default, the dispatcher.",
    ),
    LazyCommand(
        "demo",
        "bot.cli.operations:demo_cmd",
        "Play the whole story offline (fresh SQLite under ./var, sandbox channels), then serve.",
    ),
    LazyCommand("db", "bot.cli.operations:db_app", "Database schema."),
    LazyCommand("stock", "bot.cli.operations:stock_app", "Stock movements."),
    LazyCommand("eta", "bot.cli.operations:eta_app", "Supplier dates."),
    LazyCommand("orders", "bot.cli.orders_group:app", "Orders."),
    LazyCommand("sample", "bot.cli.operations:sample_app", "Sample data for trying things out."),
    LazyCommand(
        "outbox",
        "bot.cli.outbox:app",
        "Outgoing messages: what waits, what failed, what needs a decision.",
    ),
    LazyCommand(
        "agents",
        "bot.cli.agents:app",
        "Support agents (dashboard sign-in, Telegram agent commands).",
    ),
    LazyCommand("customers", "bot.cli.customers:app", "Customers."),
    LazyCommand("refunds", "bot.cli.refunds:app", "Refunds owed for cancelled items."),
    LazyCommand("inbound", "bot.cli.inbound:app", "Customer messages as received."),
    LazyCommand("inbox", "bot.cli.inbox:app", "The agents' inbox: what needs a person."),
    LazyCommand(
        "suppliers", "bot.cli.suppliers:app", "Suppliers: contacts and asking them for dates."
    ),
    LazyCommand(
        "shopify", "bot.cli.shopify:app", "The shop's Shopify: connect, sync, write-back jobs."
    ),
)

app = typer.Typer(
    cls=lazy_group(COMMANDS),
    help="backorder-bot: tell customers about backorders over SMS and Telegram.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@dataclasses.dataclass
class Context:
    settings: Settings
    _db: Database | None = None

    def database(self, *, check_schema: bool = True) -> Database:
        from bot.cli.database import DatabaseProblem, open_database

        if self._db is None:
            try:
                self._db = open_database(self.settings.database_url, create=False)
            except DatabaseProblem as exc:
                _fail(str(exc), code=exc.code)
        if check_schema:
            _require_current_schema(self._db)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version  # 45 ms: only for --version

        out.print(f"backorder-bot {version('backorder-bot')}", highlight=False)
        raise typer.Exit


@app.callback()
def _main(
    ctx: typer.Context,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # Settings pull in pydantic and the models: read here, after `--help` has been answered.
    from bot.logging_setup import configure_logging
    from bot.settings import SettingsError, load_settings

    try:
        ctx.obj = Context(load_settings())
    except SettingsError as exc:
        _fail(str(exc), code=2)
    configure_logging(ctx.obj.settings)
    ctx.call_on_close(ctx.obj.close)


def _require_current_schema(db: Database) -> None:
    # Not Alembic's ScriptDirectory: importing every migration cost each command 0.5 s.
    from store.schema_version import current_revision, head_revision, schema_problem

    with db.read_connection() as conn:
        problem = schema_problem(current_revision(conn), head_revision())
    if problem is not None:
        _fail(problem)


def main() -> None:
    try:
        app()
    except Exception as exc:
        # SQLAlchemy is imported by then if a command met the database; not before, for speed.
        if "sqlalchemy" not in sys.modules:
            raise
        from rich.markup import escape
        from sqlalchemy.exc import InterfaceError, OperationalError

        from bot.cli.database import explain

        if not isinstance(exc, (OperationalError, InterfaceError)):
            raise
        # Whatever command met it, a database that cannot be used (refused, read-only, locked)
        # is one line, not a traceback. Other database errors are bugs: their traceback stays.
        problem = explain(exc, _configured_url())
        err.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False)
        sys.exit(problem.code)


def _configured_url() -> str | None:
    from bot.settings import SettingsError, load_settings

    try:
        return load_settings().database_url
    except SettingsError:
        return None
