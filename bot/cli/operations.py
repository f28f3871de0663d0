"""Commands that run the shop: schema, stock and dates, sweeps, sample data, the dispatcher,
the web app and the demo. Loaded only when one of them runs (see ``bot.cli.lazy``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.orm import Session

from bot import demo, wiring
from bot.agents.broadcasts import broadcast_service
from bot.cli import listings as cli_listings
from bot.cli import serving
from bot.cli.database import DatabaseProblem, open_database
from bot.cli.support import context, err, out, parse_day, progress_bar
from bot.cli.support import fail as _fail
from bot.settings import Settings, root_path_prefix
from bot.suppliers.asking import AskingConfig, ask_suppliers
from store import migrate, sample
from store.delays import check_delays
from store.errors import StoreError
from store.eta import set_eta
from store.models import Base, utcnow
from store.offers import expire_offers
from store.stock import receive_stock

if TYPE_CHECKING:
    from messaging.dispatcher import DispatchStats
    from store.db import Database

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
stock_app = typer.Typer(help="Stock movements.", no_args_is_help=True)
eta_app = typer.Typer(help="Supplier dates.", no_args_is_help=True)
sample_app = typer.Typer(help="Sample data for trying things out.", no_args_is_help=True)


@contextmanager
def _refusals() -> Iterator[None]:
    """Show the store's refusals as one clear line instead of a traceback."""
    try:
        yield
    except StoreError as exc:
        _fail(str(exc))


# ---- db ----


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database schema to the latest version."""
    url = context(ctx).settings.database_url
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
    db = context(ctx).database()
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
    c = context(ctx)
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


def sweep(ctx: typer.Context) -> None:
    """Expire offers, record due delay notices, resume broadcasts, ask suppliers (run hourly).

    Expired offers get their default choice; broadcasts whose queueing was cut short go on."""
    c = context(ctx)
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
    c = context(ctx)
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


def dispatch(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Drain what is due now, then exit.")] = False,
) -> None:
    """Turn new events into messages and deliver due ones; runs until SIGTERM or Ctrl-C."""
    c = context(ctx)
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
        if not once:
            return await dispatcher.run()
        from bot.cli import dispatch_progress

        return await dispatch_progress.watch(
            dispatcher.run_once(),
            lambda: dispatcher.live,
            lambda: dispatch_progress.count_left(db),
            err,
        )
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for channel in channels.values():
            await channel.close()


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
    c = context(ctx)
    settings = c.settings
    if root_path is not None:
        try:
            settings = settings.model_copy(update={"root_path": root_path_prefix(root_path)})
        except ValueError as exc:
            _fail(f"--root-path: {exc}", code=2)
    serving.serve(settings, c.database(), host=host, port=port, dispatch=dispatch, workers=workers)


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
