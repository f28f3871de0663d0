"""The ``backorder-bot`` command line (Typer + Rich).

Settings are read once here, at the entry point, and handed down as plain values. Every listing
takes ``--json`` and then prints only JSON on stdout. Failures exit non-zero with a message on
stderr: 1 for a refused operation, 2 for bad configuration or usage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from alembic.script import ScriptDirectory
from rich.table import Table
from sqlalchemy import select

from bot import cli_agents, cli_broadcast, cli_customers, cli_orders, cli_refunds, demo, wiring
from bot.broadcast_service import broadcast_service
from bot.cli_support import err, out, progress_bar
from bot.cli_support import fail as _fail
from bot.cli_support import print_json as _print_json
from bot.csv_import import ImportFailed, ImportKind, import_csv, iter_errors, read_rows
from bot.logging_setup import configure_logging
from bot.order_views import order_record
from bot.settings import Settings, SettingsError, load_settings, root_path_prefix
from bot.web.app import create_app
from messaging import outbox
from messaging.dispatcher import DispatchStats
from store import migrate, order_links, queries, sample
from store.db import Database
from store.delays import check_delays
from store.errors import StoreError
from store.eta import set_eta
from store.models import Base, OutboxMessage, OutboxStatus, utcnow
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
outbox_app = typer.Typer(
    help="Outgoing messages: what waits, what failed, what needs a decision.",
    invoke_without_command=True,
)
app.add_typer(db_app, name="db")
app.add_typer(stock_app, name="stock")
app.add_typer(eta_app, name="eta")
app.add_typer(orders_app, name="orders")
app.add_typer(sample_app, name="sample")
app.add_typer(outbox_app, name="outbox")
app.add_typer(cli_agents.app, name="agents")
app.add_typer(cli_customers.app, name="customers")
app.add_typer(cli_refunds.app, name="refunds")
app.command("broadcast")(cli_broadcast.broadcast)
orders_app.command("ship")(cli_orders.ship)


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@dataclasses.dataclass
class Context:
    settings: Settings
    _db: Database | None = None

    def database(self, *, check_schema: bool = True) -> Database:
        if self._db is None:
            self._db = Database(self.settings.database_url)
        if check_schema:
            _require_current_schema(self._db)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


@app.callback()
def _main(ctx: typer.Context) -> None:
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
    if current != head:
        _fail(
            f"the database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `backorder-bot db upgrade`"
        )


def _date_text(value: dt.date | None) -> str:
    return value.isoformat() if value else "-"


# ---- db ----


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database schema to the latest version."""
    url = _ctx(ctx).settings.database_url
    migrate.upgrade(url)
    err.print(f"database at revision {migrate.current_revision(url)}")


# ---- imports ----


@app.command("import")
def import_file(
    ctx: typer.Context,
    kind: Annotated[ImportKind, typer.Argument(help="What the file holds.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    dry_run: Annotated[bool, typer.Option(help="Check every row, write nothing.")] = False,
) -> None:
    """Import a CSV file: all rows or none; bad rows are listed with their line numbers."""
    c = _ctx(ctx)
    data = file.read_bytes()
    db = c.database()
    try:
        total = len(read_rows(data, kind)[0])
        with progress_bar() as bar, db.session() as session:
            task = bar.add_task(f"importing {kind.value}", total=total)
            report = import_csv(
                session,
                kind,
                data,
                policy=c.settings.policy(),
                now=utcnow(),
                default_region=c.settings.default_phone_region,
                default_locale=c.settings.default_locale,
                default_timezone=c.settings.default_timezone,
                progress=lambda n: bar.advance(task, n),
            )
            if dry_run:
                session.rollback()
    except ImportFailed as exc:
        for line in iter_errors(exc.errors, limit=50):
            err.print(f"{file.name}: {line}", highlight=False, markup=False)
        _fail(f"{file.name} was not imported: {exc}")
    for warning in report.warnings:
        err.print(f"warning: {warning}", highlight=False)
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in report.written.items())
    verb = "checked (dry run, nothing written)" if dry_run else "imported"
    err.print(f"{file.name}: {report.rows} rows {verb}: {counts}", highlight=False)


# ---- stock, eta ----


@stock_app.command("receive")
def stock_receive(
    ctx: typer.Context,
    sku: str,
    quantity: Annotated[int, typer.Argument(min=1)],
    reference: Annotated[str | None, typer.Option(help="Delivery reference; counted once.")] = None,
) -> None:
    """Record received stock; it goes to the oldest waiting orders first."""
    db = _ctx(ctx).database()
    with _refusals(), db.session() as session:
        result = receive_stock(session, sku, quantity, now=utcnow(), reference=reference)
        filled = [(a.line.order.number, a.quantity) for a in result.allocations]
    if result.duplicate:
        err.print(f"receipt {reference} was already recorded; nothing changed")
        return
    err.print(f"received {quantity} x {sku}; allocated to {len(filled)} waiting line(s)")
    for number, qty in filled:
        out.print(f"  order {number}: {qty}")


@eta_app.command("set")
def eta_set(
    ctx: typer.Context,
    sku: str,
    date: Annotated[dt.datetime, typer.Argument(formats=["%Y-%m-%d"], help="YYYY-MM-DD")],
    reason: Annotated[str | None, typer.Option(help="Why the date moved.")] = None,
) -> None:
    """Set the supplier's expected date; waiting customers are told if it really moved."""
    c = _ctx(ctx)
    db = c.database()
    with _refusals(), db.session() as session:
        result = set_eta(
            session,
            sku,
            date.date(),
            source="agent",
            reason=reason,
            policy=c.settings.policy(),
            now=utcnow(),
        )
        told, noticed = len(result.changed_line_ids), len(result.delay_lines)
    err.print(
        f"{sku}: {_date_text(result.old_eta)} -> {date.date().isoformat()}; "
        f"{told} customer line(s) to be told, {noticed} delay notice(s)"
    )


# ---- listings ----


@orders_app.command("revoke-link")
def orders_revoke_link(ctx: typer.Context, number: str) -> None:
    """Close the order's page link (say it leaked); its next message carries a new one."""
    db = _ctx(ctx).database()
    with db.session() as session:
        order = queries.order_with_lines(session, number)
        if order is None:
            _fail(f"order {number} does not exist")
        revoked = order_links.revoke(session, order.id, utcnow())
    if revoked:
        out.print(
            f"The page link of order {number} is revoked; the next message carries a new one."
        )
    else:
        out.print(f"Order {number} has no live page link.")


@orders_app.command("show")
def orders_show(ctx: typer.Context, number: str, as_json: JsonFlag = False) -> None:
    """One order: its customer, lines, dates and open offers."""
    db = _ctx(ctx).database()
    with db.read_session() as session:
        order = queries.order_with_lines(session, number)
        if order is None:
            _fail(f"order {number} does not exist")
        view = order_record(order, with_phone=True)
    if as_json:
        _print_json(view)
        return
    out.print(f"[bold]Order {view['number']}[/bold] ({view['status']}), placed {view['placed_at']}")
    out.print(f"Customer: {view['customer']['name']} {view['customer']['phone'] or ''}")
    columns = ("sku", "product", "qty", "allocated", "backordered", "shipped", "status", "eta")
    table = Table(*columns, "offer")
    for line in view["lines"]:
        offer = line["open_offer"]
        table.add_row(
            line["sku"],
            line["name"],
            str(line["quantity"]),
            str(line["allocated"]),
            str(line["backordered"]),
            str(line["shipped"]),
            line["status"],
            line["eta"] or "-",
            f"open until {offer['expires_at'][:10]}" if offer else "-",
        )
    out.print(table)
    for shipment in view["shipments"]:
        out.print(cli_orders.shipment_line(shipment), highlight=False, soft_wrap=True)


@app.command("backorders")
def backorders_cmd(
    ctx: typer.Context,
    sku: Annotated[str | None, typer.Option(help="Only this SKU.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Waiting lines grouped by SKU, oldest order first."""
    db = _ctx(ctx).database()
    with db.read_session() as session:
        groups = queries.backorders(session, sku)
    if as_json:
        _print_json([{**dataclasses.asdict(g.summary), "lines": g.lines} for g in groups])
        return
    if not groups:
        out.print("Nothing is on backorder.")
        return
    for group in groups:
        s = group.summary
        eta = _date_text(s.eta)
        out.print(f"[bold]{s.sku}[/bold] {s.name}: {s.units_waiting} unit(s) waiting, eta {eta}")
        table = Table("order", "customer", "waiting", "placed", "eta", "slips", "offer")
        for line in group.lines:
            table.add_row(
                line.order_number,
                line.customer_name,
                f"{line.backordered_quantity}/{line.quantity}",
                line.placed_at.date().isoformat(),
                _date_text(line.eta),
                str(line.eta_slips),
                line.offer_choice or line.offer_status or "-",
            )
        out.print(table)


@app.command("report")
def report_cmd(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """By SKU: lines waiting, units, oldest wait, ETA, supplier."""
    db = _ctx(ctx).database()
    now = utcnow()
    with db.read_session() as session:
        rows = queries.backorder_summary(session)
    if as_json:
        _print_json(
            [{**dataclasses.asdict(r), "oldest_wait_days": r.oldest_wait_days(now)} for r in rows]
        )
        return
    table = Table(title="Backorders by SKU")
    for name in ("sku", "product", "lines", "units", "oldest wait", "eta", "supplier", "in stock"):
        table.add_column(
            name, justify="right" if name in {"lines", "units", "in stock"} else "left"
        )
    for r in rows:
        table.add_row(
            r.sku,
            r.name,
            str(r.lines_waiting),
            str(r.units_waiting),
            f"{r.oldest_wait_days(now)} d",
            _date_text(r.eta),
            r.supplier or "-",
            str(r.stock_on_hand),
        )
    out.print(table if rows else "Nothing is on backorder.")


# ---- sweeps and sample data ----


@app.command("sweep")
def sweep(ctx: typer.Context) -> None:
    """Apply default choices to expired offers, record due delay notices, and resume broadcasts
    whose queueing was interrupted (run it hourly)."""
    c = _ctx(ctx)
    db = c.database()
    now = utcnow()
    with db.session() as session:
        expired = len(expire_offers(session, now, c.settings.policy()))
        delayed = len(check_delays(session, now, c.settings.policy()))
    err.print(f"{expired} offer(s) expired, {delayed} delay notice(s) recorded")
    for resumed in broadcast_service(c.settings, db).resume_interrupted():
        err.print(f"broadcast {resumed}: interrupted queueing resumed")


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
    err.print(
        f"loaded {len(data.products)} products, {len(data.customers)} customers, "
        f"{len(data.orders)} orders (seed {seed})"
    )


@outbox_app.callback()
def outbox_list(
    ctx: typer.Context,
    status: Annotated[
        list[OutboxStatus] | None,
        typer.Option(help="Rows in this status (repeatable). Default: failed and unknown."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Counts by status, and the rows that need a person (failed, unknown)."""
    if ctx.invoked_subcommand is not None:
        return
    db = _ctx(ctx).database()
    wanted = status or [OutboxStatus.FAILED, OutboxStatus.UNKNOWN]
    with db.read_session() as session:
        counts = outbox.counts_by_status(session)
        rows: list[dict[str, Any]] = [
            {
                "id": row.id,
                "status": row.status.value,
                "channel": row.channel.value,
                "message": row.message,
                "customer_id": row.customer_id,
                "attempts": row.attempts,
                "due_at": row.due_at.isoformat(),
                "last_error": row.last_error,
            }
            for row in session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status.in_(wanted))
                .order_by(OutboxMessage.id.desc())
                .limit(limit)
            )
        ]
    if as_json:
        _print_json({"counts": counts, "rows": rows})
        return
    out.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "The outbox is empty.")
    if rows:
        table = Table("id", "status", "channel", "message", "customer", "tries", "last error")
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["status"],
                r["channel"],
                r["message"],
                str(r["customer_id"]),
                str(r["attempts"]),
                r["last_error"] or "-",
            )
        out.print(table)


@outbox_app.command("retry")
def outbox_retry(
    ctx: typer.Context,
    ids: Annotated[list[int], typer.Argument(help="Outbox row ids (failed or unknown).")],
) -> None:
    """Send failed or unknown messages again (for unknown ones: only when you know they
    did not arrive, e.g. the customer says so)."""
    db = _ctx(ctx).database()
    with db.session() as session:
        moved = outbox.retry_rows(session, ids, utcnow())
    err.print(f"{moved} of {len(ids)} message(s) queued again")
    if moved < len(ids):
        raise typer.Exit(1)


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
    err.print(f"dispatch: {stats.notified} message(s) queued from events; {summary}")


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
) -> None:
    """Run the web app (webhooks, health, metrics) and, by default, the dispatcher."""
    c = _ctx(ctx)
    settings = c.settings
    if root_path is not None:
        try:
            settings = settings.model_copy(update={"root_path": root_path_prefix(root_path)})
        except ValueError as exc:
            _fail(f"--root-path: {exc}", code=2)
    db = c.database()
    hooks = [wiring.dispatcher_lifespan(settings, db)] if dispatch else []
    if settings.sandbox:
        err.print(f"sandbox mode: nothing leaves this machine; see {settings.sandbox_log}")
    try:
        web = create_app(settings, db, lifespan_hooks=hooks)
    except SettingsError as exc:
        _fail(str(exc), code=2)
    # uvicorn turns SIGTERM/SIGINT into a lifespan shutdown, which stops the dispatcher cleanly.
    # log_config=None: uvicorn's loggers propagate to ours, which scrub secrets. The prefix is
    # the app's (see create_app), not uvicorn's: uvicorn's root_path prepends it to every path,
    # doubling it when the proxy keeps it.
    config = uvicorn.Config(
        web,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    uvicorn.Server(config).run()


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
    app()
