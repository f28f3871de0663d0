"""``backorder-bot shopify connect|sync|jobs|retry|writeback``: the shop's Shopify, kept true.

``connect`` checks the Admin API token's scopes and registers the webhook subscriptions (safe to
run again); ``sync`` imports products, stock and open orders (resumable, safe to run again).
``writeback`` works the jobs that carry customers' choices to Shopify (``--once`` drains what is
due and exits); ``jobs`` lists them, dead ones with the reason, and ``retry`` makes a dead one
due again once its cause is fixed.
"""

from __future__ import annotations

import functools
import time
from typing import Annotated

import typer
from rich.progress import Progress, TaskID

from bot.cli.support import context, data_table, err, fail, out, print_json, progress_bar
from bot.integrations.shopify.admin_client import AdminClient, AdminError
from bot.integrations.shopify.connect import (
    REQUIRED_SCOPES,
    admin_client,
    missing_scopes,
    register_webhooks,
)
from bot.integrations.shopify.sync import RESOURCES, ShopifySync
from bot.integrations.shopify.topics import Config
from bot.integrations.shopify.webhook import PATH
from bot.integrations.shopify.writeback import WriteBack
from store import shopify_jobs
from store.errors import StoreError
from store.models import utcnow
from store.tables_shopify import ShopifyJobStatus

app = typer.Typer(help="The shop's Shopify: connect, sync, write-back jobs.", no_args_is_help=True)
POLL_S = 5.0


def _client(ctx: typer.Context) -> AdminClient:
    try:
        return admin_client(context(ctx).settings)
    except ValueError as exc:
        fail(str(exc), code=2)


@app.command("connect")
def connect(ctx: typer.Context) -> None:
    """Check the Admin API token's scopes and register the webhook subscriptions."""
    settings = context(ctx).settings
    if not settings.public_base_url:
        fail("set PUBLIC_BASE_URL: Shopify must know where to send webhooks", code=2)
    if settings.shopify_webhook_secret is None:
        err.print("Note: SHOPIFY_WEBHOOK_SECRET is empty; webhooks will be answered 503.")
    uri = settings.public_base_url + settings.root_path + PATH
    with _client(ctx) as client:
        try:
            granted, missing = missing_scopes(client)
        except AdminError as exc:
            fail(f"Shopify refused the scope check: {exc}")
        out.print(f"Token scopes: {', '.join(granted) or 'none'}", highlight=False)
        if missing:
            for scope in missing:
                err.print(f"  missing {scope}: {REQUIRED_SCOPES[scope]}", highlight=False)
            fail("give the custom app these scopes in the Shopify admin, reinstall, run again")
        try:
            registered = register_webhooks(client, uri)
        except AdminError as exc:
            fail(f"Shopify refused to list webhook subscriptions: {exc}")
    table = data_table("topic", "webhook", wrap=("webhook",), title=f"Webhooks to {uri}")
    for result in registered:
        table.add_row(result.topic, result.outcome)
    out.print(table)
    if any(r.outcome.startswith("refused") for r in registered):
        fail("some webhook subscriptions were refused (see above)")
    out.print("Connected.")


@app.command("jobs")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[
        ShopifyJobStatus | None, typer.Option(help="Only jobs in this state (e.g. dead).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The writes owed to Shopify, newest first; a dead one says why it gave up."""
    with context(ctx).database().read_session() as session:
        records = [
            {
                "id": job.id,
                "kind": job.kind.value,
                "status": job.status.value,
                "shopify_order_id": job.shopify_order_id,
                "attempts": job.attempts,
                "next_attempt_at": job.next_attempt_at.isoformat(),
                "last_error": job.last_error,
                "result": job.result,
            }
            for job in shopify_jobs.jobs(session, status=status)
        ]
    if as_json:
        print_json(records)
        return
    if not records:
        out.print("No Shopify jobs.")
        return
    table = data_table("id", "kind", "status", "order", "tries", "next try", "why", wrap=("why",))
    for r in records:
        pending = r["status"] == ShopifyJobStatus.PENDING.value
        table.add_row(
            str(r["id"]),
            str(r["kind"]),
            str(r["status"]),
            str(r["shopify_order_id"]),
            str(r["attempts"]),
            str(r["next_attempt_at"])[:19] if pending else "",
            str(r["last_error"] or ""),
        )
    out.print(table)


@app.command("retry")
def retry(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="The dead job's id (see `shopify jobs`).")],
) -> None:
    """Make a dead job due again (after fixing what killed it)."""
    try:
        with context(ctx).database().session() as session:
            shopify_jobs.retry_job(session, job_id, utcnow())
    except StoreError as exc:
        fail(str(exc))
    out.print(f"Shopify job {job_id} is due again.")


@app.command("writeback")
def writeback(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Work what is due, then exit.")] = False,
) -> None:
    """Send the due write-back jobs to Shopify; keeps polling unless --once."""
    db = context(ctx).database()
    with _client(ctx) as client:
        worker = WriteBack(db, client)
        while True:
            summary = worker.run_due()
            if summary.worked or once:
                out.print(
                    f"Shopify jobs: {summary.done} done, {summary.retrying} to retry, "
                    f"{summary.dead} dead."
                )
            for line in summary.errors:
                err.print(f"  {line}", highlight=False)
            if once:
                return
            time.sleep(POLL_S)


@app.command("sync")
def sync(
    ctx: typer.Context,
    only: Annotated[
        str | None, typer.Option("--only", help="Only one resource: products or orders.")
    ] = None,
) -> None:
    """Import products, stock and open orders from Shopify; resumes where it stopped."""
    if only is not None and only not in RESOURCES:
        fail(f"--only takes {' or '.join(RESOURCES)}", code=2)
    settings = context(ctx).settings
    config = Config(
        policy=settings.policy(),
        default_locale=settings.default_locale,
        default_timezone=settings.default_timezone,
        phone_region=settings.default_phone_region,
    )
    db = context(ctx).database()
    with _client(ctx) as client, progress_bar() as bar:
        syncer = ShopifySync(db, client, config)
        for resource in (only,) if only else RESOURCES:
            task = bar.add_task(f"syncing {resource}", total=None)
            advance = functools.partial(_advance, bar, task)
            try:
                summary = syncer.run(resource, advance)
            except AdminError as exc:
                fail(f"{resource}: Shopify refused ({exc}); run again to resume")
            resumed = " (resumed)" if summary.resumed else ""
            out.print(
                f"{resource}{resumed}: {summary.applied} applied, "
                f"{len(summary.refused)} refused, {summary.pages} pages."
            )
            for reason in summary.refused:
                err.print(f"  refused {reason}", highlight=False)


def _advance(bar: Progress, task: TaskID, resource: str, items: int) -> None:
    bar.advance(task, items)
