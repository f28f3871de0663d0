"""The ``backorder-bot`` command line (Typer + Rich).

Settings are read once here, at the entry point, and handed down as plain values. Every listing
takes ``--json`` and then prints only JSON on stdout. Results go to stdout; errors, warnings and
progress to stderr. Failures exit non-zero with one line on stderr: 1 for a refused operation,
2 for bad configuration or usage, 3 for a database that cannot be used (``bot/cli/database.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Annotated

import typer
from alembic.script import ScriptDirectory
from rich.markup import escape
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from bot import demo, wiring
from bot.agents.broadcasts import broadcast_service
from bot.cli import agents as cli_agents
from bot.cli import broadcast as cli_broadcast
from bot.cli import customers as cli_customers
from bot.cli import imports as cli_import
from bot.cli import inbound as cli_inbound
from bot.cli import listings as cli_listings
from bot.cli import orders as cli_orders
from bot.cli import outbox as cli_outbox
from bot.cli import refunds as cli_refunds
from bot.cli import suppliers as cli_suppliers
from bot.cli import report as cli_report
from bot.cli import shopify as cli_shopify
from bot.cli import serving
from bot.cli.database import DatabaseProblem, explain, open_database
from bot.cli.support import err, out, parse_day, progress_bar
from bot.cli.support import fail as _fail
from bot.logging_setup import configure_logging
from bot.settings import Settings, SettingsError, load_settings, root_path_prefix
from bot.suppliers.asking import AskingConfig, ask_suppliers
from messaging.dispatcher import DispatchStats
from store import migrate, sample
from store.db import Database
from store.delays import check_delays
from store.errors import StoreError
from store.eta import set_eta
from store.models import Base, utcnow
from store.offers import expire_offers
from store.stock import receive_stock

app = typer.Typer(
    help="backorder-bot: tell customers about backorders over SMS and Telegram.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
stock_app = typer.Typer(help="Stock movements.", no_args_is_help=True)
eta_app = typer.Typer(help="Supplier dates.", no_args_is_help=True)
orders_app = typer.Typer(help="Orders.", no_args_is_help=True)
sample_app = typer.Typer(help="Sample data for trying things out.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(stock_app, name="stock")
app.add_typer(eta_app, name="eta")
app.add_typer(orders_app, name="orders")
app.add_typer(sample_app, name="sample")
app.add_typer(cli_outbox.app, name="outbox")
app.add_typer(cli_agents.app, name="agents")
app.add_typer(cli_customers.app, name="customers")
app.add_typer(cli_refunds.app, name="refunds")
app.add_typer(cli_inbound.app, name="inbound")
app.add_typer(cli_suppliers.app, name="suppliers")
app.add_typer(cli_shopify.app, name="shopify")
app.command("broadcast")(cli_broadcast.broadcast)
app.command("import")(cli_import.import_file)
orders_app.command("ship")(cli_orders.ship)
orders_app.command("show")(cli_listings.orders_show)
orders_app.command("revoke-link")(cli_listings.orders_revoke_link)
app.command("backorders")(cli_listings.backorders_cmd)
app.add_typer(cli_report.app, name="report")


@dataclasses.dataclass
class Context:
    settings: Settings
    _db: Database | None = None

    def database(self, *, check_schema: bool = True) -> Database:
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
    try:
        ctx.obj = Context(load_settings())
    except SettingsError as exc:
        _fail(str(exc), code=2)
    configure_logging(ctx.obj.settings)
    ctx.call_on_close(ctx.obj.close)


def _ctx(ctx: typer.Context) -> Context:
    assert isinstance(ctx.obj, Context)
    return ctx.obj


@contextmanager
def _refusals() -> Iterator[None]:
    """Show the store's refusals as one clear line instead of a traceback."""
    try:
        yield
    except StoreError as exc:
        _fail(str(exc))


def _require_current_schema(db: Database) -> None:
    head = ScriptDirectory.from_config(migrate.alembic_config(db.url)).get_current_head()
    current = migrate.current_revision(db.url)
    if current is None:
        _fail("the database has no tables yet: run `backorder-bot db upgrade`")
    if current != head:
        _fail(
            f"the database schema is at revision {current}, this version needs {head}: "
            "run `backorder-bot db upgrade`"
        )


# ---- db ----


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database schema to the latest version."""
    url = _ctx(ctx).settings.database_url
    try:
        open_database(url, create=True).dispose()
    except DatabaseProblem as exc:
        _fail(str(exc), code=exc.code)
    migrate.upgrade(url)
    out.print(f"database at revision {migrate.current_revision(url)}")


# ---- stock, eta ----


def _positive(value: int) -> int:
    if value < 1:
        raise typer.BadParameter(f"the quantity must be positive (a number of units), got {value}")
    return value


# ignore_unknown_options: "-3" reaches the quantity's check instead of "No such option: -3".
@stock_app.command("receive", context_settings={"ignore_unknown_options": True})
def stock_receive(
    ctx: typer.Context,
    sku: Annotated[str, typer.Argument(metavar="SKU")],
    quantity: Annotated[int, typer.Argument(metavar="QTY", callback=_positive)],
    reference: Annotated[str | None, typer.Option(help="Delivery reference; counted once.")] = None,
) -> None:
    """Record received stock; it goes to the oldest waiting orders first."""
    db = _ctx(ctx).database()
    with _refusals():
        result = db.transaction(
            lambda s: receive_stock(s, sku, quantity, now=utcnow(), reference=reference)
        )
        filled = [(a.line.order.number, a.quantity) for a in result.allocations]
    if result.duplicate:
        out.print(f"receipt {reference} was already recorded; nothing changed")
        return
    out.print(f"received {quantity} x {sku}; allocated to {len(filled)} waiting line(s)")
    for number, qty in filled:
        out.print(f"  order {number}: {qty}")


@eta_app.command("set")
def eta_set(
    ctx: typer.Context,
    sku: Annotated[str, typer.Argument(metavar="SKU")],
    date: Annotated[
        dt.date, typer.Argument(parser=parse_day, metavar="YYYY-MM-DD", help="The new date.")
    ],
    reason: Annotated[str | None, typer.Option(help="Why the date moved.")] = None,
) -> None:
    """Set the supplier's expected date; waiting customers are told if it really moved."""
    c = _ctx(ctx)
    db = c.database()
    with _refusals():
        result = db.transaction(
            lambda s: set_eta(
                s,
                sku,
                date,
                source="agent",
                reason=reason,
                policy=c.settings.policy(),
                now=utcnow(),
            )
        )
        told, noticed = len(result.changed_line_ids), len(result.delay_lines)
    out.print(
        f"{sku}: {cli_listings.date_text(result.old_eta)} -> {date.isoformat()}; "
        f"{told} customer line(s) to be told, {noticed} delay notice(s)"
    )


# ---- sweeps and sample data ----


@app.command("sweep")
def sweep(ctx: typer.Context) -> None:
    """Expire offers, record due delay notices, resume broadcasts, ask suppliers (run hourly).

    Expired offers get their default choice; broadcasts whose queueing was cut short go on."""
    c = _ctx(ctx)
    db = c.database()
    now = utcnow()

    def sweep_once(session: Session) -> tuple[int, int]:
        expired = len(expire_offers(session, now, c.settings.policy()))
        return expired, len(check_delays(session, now, c.settings.policy()))

    expired, delayed = db.transaction(sweep_once)
    out.print(f"{expired} offer(s) expired, {delayed} delay notice(s) recorded")
    for resumed in broadcast_service(c.settings, db).resume_interrupted():
        out.print(f"broadcast {resumed}: interrupted queueing resumed")
    asked = ask_suppliers(db, AskingConfig.from_settings(c.settings), now)
    out.print(f"{len(asked.asked)} supplier request(s), {len(asked.reminded)} reminder(s) queued")


@sample_app.command("load")
def sample_load(
    ctx: typer.Context,
    customers: Annotated[int, typer.Option(min=1, max=sample.MAX_CUSTOMERS)] = 40,
    orders: Annotated[int, typer.Option(min=0)] = 60,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 7,
    fresh: Annotated[bool, typer.Option(help="Empty the database first.")] = False,
) -> None:
    """Load realistic sample data (several suppliers, countries and languages)."""
    c = _ctx(ctx)
    db = c.database()
    now = utcnow()
    data = sample.generate(customers=customers, orders=orders, seed=seed, now=now)
    with _refusals(), progress_bar() as bar, db.session() as session:
        if fresh:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(table.delete())
        task = bar.add_task("placing sample orders", total=len(data.orders))
        sample.load(
            session,
            data,
            policy=c.settings.policy(),
            now=now,
            progress=lambda n: bar.advance(task, n),
        )
    out.print(
        f"loaded {len(data.products)} products, {len(data.customers)} customers, "
        f"{len(data.orders)} orders (seed {seed})"
    )


@app.command("dispatch")
def dispatch(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Drain what is due now, then exit.")] = False,
) -> None:
    """Turn new events into messages and deliver due ones; runs until SIGTERM or Ctrl-C."""
    c = _ctx(ctx)
    db = c.database()
    stats = asyncio.run(_dispatch(c.settings, db, once=once))
    summary = ", ".join(f"{n} {k}" for k, n in sorted(stats.outcomes.items())) or "nothing due"
    out.print(f"dispatch: {stats.notified} message(s) queued from events; {summary}")


async def _dispatch(settings: Settings, db: Database, *, once: bool) -> DispatchStats:
    channels = wiring.build_channels(settings)
    if settings.sandbox:
        err.print(f"sandbox mode: nothing leaves this machine; see {settings.sandbox_log}")
    dispatcher = wiring.build_dispatcher(settings, db, channels)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Finish the sends in flight and hand back the rest, instead of dying mid-batch.
        loop.add_signal_handler(signum, dispatcher.stop)
    try:
        return await (dispatcher.run_once() if once else dispatcher.run())
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for channel in channels.values():
            await channel.close()


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    dispatch: Annotated[bool, typer.Option(help="Also run the dispatcher in this process.")] = True,
    root_path: Annotated[
        str | None,
        typer.Option(
            help="Path prefix a proxy serves the app under, e.g. /bot (default: ROOT_PATH).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes answering on the one port.")
    ] = 1,
) -> None:
    """Run the web app (webhooks, health, metrics) and, by default, the dispatcher."""
    c = _ctx(ctx)
    settings = c.settings
    if root_path is not None:
        try:
            settings = settings.model_copy(update={"root_path": root_path_prefix(root_path)})
        except ValueError as exc:
            _fail(f"--root-path: {exc}", code=2)
    serving.serve(settings, c.database(), host=host, port=port, dispatch=dispatch, workers=workers)


@app.command("demo")
def demo_cmd(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free one).")
    ] = 8000,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Keep serving after the story.")
    ] = True,
    var: Annotated[Path, typer.Option(help="Folder for the demo's database and log.")] = Path(
        "var"
    ),
) -> None:
    """Play the whole story offline (fresh SQLite under ./var, sandbox channels), then serve."""
    try:
        demo.run_demo(
            out, var=var, port=port, serve=serve_after, wait_for_exit=demo.wait_for_ctrl_c
        )
    except demo.DemoFailed as exc:
        _fail(f"the demo went wrong: {exc}")
    except OSError as exc:
        _fail(f"cannot serve on 127.0.0.1:{port} ({exc}); try --port 0", code=2)


def main() -> None:
    try:
        app()
    except (OperationalError, InterfaceError) as exc:
        # Whatever command met it, a database that cannot be used (refused, read-only, locked)
        # is one line, not a traceback. Other database errors are bugs: their traceback stays.
        problem = explain(exc, _configured_url())
        err.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False)
        sys.exit(problem.code)


def _configured_url() -> str | None:
    try:
        return load_settings().database_url
    except SettingsError:
        return None
