"""``backorder-bot broadcast``: preview (``--dry-run``) or send (``--yes``) a broadcast.

The same service as the API and the dashboard (``messaging.broadcasts``). A send shows a Rich
progress bar while the rows are queued, then the counts; the dispatcher (``dispatch`` or
``serve``) delivers them within the rate limits. Interrupted, the same command again resumes
the same broadcast (same content within ten minutes, or the same ``--idempotency-key``) and
queues nobody twice.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from bot.agents.broadcasts import broadcast_service
from bot.cli.support import (
    actor,
    context,
    data_table,
    err,
    fail,
    out,
    parse_day,
    print_json,
    progress_bar,
)
from messaging.broadcast_content import BROADCAST_TEMPLATES
from messaging.broadcast_limits import LONG_SMS_SEGMENTS, long_sms_warning
from messaging.broadcasts import BroadcastProgress, BroadcastRequest, Preview
from store import audience
from store.audience import AudienceFilter
from store.errors import StoreError
from store.models import Channel, LineStatus

DateOption = Annotated[
    dt.date | None,
    typer.Option(parser=parse_day, metavar="YYYY-MM-DD", show_default=False),
]


def broadcast(
    ctx: typer.Context,
    sku: Annotated[str | None, typer.Option(help="Customers with a line for this SKU.")] = None,
    supplier: Annotated[str | None, typer.Option(help="... for this supplier's products.")] = None,
    status: Annotated[
        LineStatus,
        typer.Option(
            metavar="STATUS",
            show_choices=False,
            help=f"The line's status: {', '.join(s.value for s in LineStatus)}.",
        ),
    ] = LineStatus.BACKORDERED,
    waiting_days_min: Annotated[
        int | None, typer.Option(min=0, help="Ordered at least N days ago.")
    ] = None,
    eta_before: DateOption = None,
    eta_after: DateOption = None,
    locale: Annotated[str | None, typer.Option(help="Language, e.g. es (matches es-MX).")] = None,
    channel: Annotated[Channel | None, typer.Option(help="Only this channel.")] = None,
    template: Annotated[
        str | None,
        typer.Option(metavar="NAME", help=f"A library message: {', '.join(BROADCAST_TEMPLATES)}."),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option(help="Your text; placeholders like {{ first_name }}, {{ eta }}."),
    ] = None,
    translation: Annotated[
        list[str] | None,
        typer.Option(
            metavar="LOCALE=TEXT",
            help='Your text in another language, e.g. es="Hola {{ first_name }}": customers '
            "of that language get it instead of --text. Repeatable.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count and show; send nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Send it.")] = False,
    allow_long: Annotated[
        bool,
        typer.Option(
            "--allow-long",
            help=f"Send SMS longer than {LONG_SMS_SEGMENTS} segments without asking.",
        ),
    ] = False,
    send_at: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%z"],
            metavar="ISO-8601",
            help="When to send (ISO 8601 with offset, e.g. 2026-12-01T09:00+01:00).",
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Make a re-run find this broadcast again.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Send a message to everyone matching the filters, once each, within the rate limits."""
    if dry_run == yes:
        fail("say --dry-run to preview or --yes to send", code=2)
    if (template is None) == (text is None):
        fail("give --template NAME or --text TEXT", code=2)
    translations = _translations(translation or [])
    c = context(ctx)
    db = c.database()
    service = broadcast_service(c.settings, db)
    try:
        filters = AudienceFilter(
            sku=sku,
            supplier=supplier,
            status=status,
            waiting_days_min=waiting_days_min,
            eta_before=eta_before,
            eta_after=eta_after,
            locale=locale,
            channel=channel,
        )
        request = BroadcastRequest(
            filters=filters,
            template=template,
            text=text,
            translations=translations,
            send_at=send_at,
            idempotency_key=idempotency_key,
            created_by=actor(),
        )
        if dry_run:
            preview = service.preview(request)
            if as_json:
                print_json({"dry_run": True, **preview.to_json()})
            else:
                _show_preview(preview)
            return
        _check_length(service.sms_segments(request), allow_long)
        info, created = service.create(request)
        if not created:
            err.print(
                f"broadcast {info.id} was already submitted: resuming it, sending nothing twice"
            )
        with db.read_session() as session:
            total = audience.count(session, filters, info.created_at)
        with progress_bar() as bar:
            task = bar.add_task(f"queueing broadcast {info.id}", total=total)
            service.queue(info.id, progress=lambda n: bar.advance(task, n))
        progress = service.progress(info.id)
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        print_json({"created": created, **progress.to_json()})
    else:
        _show_progress(progress)


def _check_length(segments: int, allow_long: bool) -> None:
    """Ask before queueing a many-segment SMS (each is billed that many times), or refuse
    without a terminal to ask at, unless ``--allow-long`` says it is meant."""
    warning = long_sms_warning(segments)
    if warning is None or allow_long:
        return
    err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    if sys.stdin.isatty() and typer.confirm("Send it anyway?", default=False, err=True):
        return
    fail("not sent; shorten the text, or add --allow-long to send it as it is", code=2)


def _translations(pairs: list[str]) -> dict[str, str]:
    """``--translation es=TEXT`` options by locale; the service checks locales and texts."""
    translations: dict[str, str] = {}
    for pair in pairs:
        locale, equals, text = pair.partition("=")
        locale = locale.strip()
        if not equals or not locale:
            fail(
                f'--translation takes LOCALE=TEXT, e.g. es="Hola", not {escape(repr(pair))}',
                code=2,
            )
        if locale in translations:
            fail(f"--translation {escape(locale)}=... is given twice", code=2)
        translations[locale] = text
    return translations


def _show_preview(preview: Preview) -> None:
    t = preview.tally
    when = preview.send_at.isoformat() if preview.send_at else "now"
    out.print(
        f"[bold]Dry run[/bold]: {t.recipients} recipient(s) of {t.matched} matched; send {when}"
    )
    out.print("By channel: " + _pairs(t.by_channel))
    out.print("By locale:  " + _pairs(t.by_locale))
    out.print("Skipped:    " + _pairs(t.skipped))
    out.print(f"Quiet hours: {t.quiet_hours_deferred} will wait for the end of their quiet hours")
    if preview.sms_segments:
        out.print(f"SMS length: {preview.sms_segments} segment(s) each (the longest sample)")
    for warning in preview.warnings:
        out.print(f"[yellow]Warning:[/yellow] {escape(warning)}")
    table = data_table(
        "locale", "channel", "segments", "message", title="Samples", wrap=("message",)
    )
    for sample in preview.samples:
        segments = f"{sample.sms_segments} ({sample.encoding})" if sample.sms_segments else "-"
        table.add_row(sample.locale, sample.channel, segments, sample.text)
    out.print(table)
    out.print("Nothing was sent. Run again with --yes instead of --dry-run to send.")


def _show_progress(progress: BroadcastProgress) -> None:
    view: dict[str, Any] = progress.to_json()
    p = view["progress"]
    out.print(f"[bold]Broadcast {view['id']}[/bold]: {view['status']}")
    out.print(
        f"{p['queued']} queued, {p['pending']} waiting to send, {p['sent']} sent, "
        f"{p['delivered']} delivered, {p['failed']} failed, {p['skipped']} skipped"
    )
    out.print("Not queued: " + _pairs(p["skipped_when_queued"]))
    if view["status"] in ("sending", "scheduled"):
        out.print("The dispatcher (`backorder-bot dispatch` or `serve`) delivers them.")


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"
