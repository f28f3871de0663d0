"""``backorder-bot import KIND FILE``: one CSV file, checked whole before any row is written."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.support import context, err, fail, out, progress_bar
from bot.importing.chunked import ImportInterrupted, import_in_chunks
from bot.importing.csv_import import (
    COLUMNS,
    ImportFailed,
    ImportKind,
    ImportReport,
    import_csv,
    iter_errors,
)
from bot.importing.csv_reading import MAX_FILE_BYTES
from store.models import utcnow

MAX_ERRORS_SHOWN = 50


def _columns_help() -> str:
    lines = [
        f"{kind.value}: {', '.join(required)}"
        + (f" (optional: {', '.join(optional)})" if optional else "")
        for kind, (required, optional) in COLUMNS.items()
    ]
    # Click rewraps help text; a blank line between items keeps one kind per paragraph.
    return "\n\n".join(
        [
            "Import a CSV file: every row checked before any is written; bad rows listed by line.",
            f"Files up to {MAX_FILE_BYTES // 1024 // 1024} MiB. Columns (any order and case):",
            *lines,
        ]
    )


def import_file(
    ctx: typer.Context,
    kind: Annotated[
        ImportKind,
        typer.Argument(
            metavar="KIND",
            help="catalog, customers, orders or purchase-orders.",
            show_choices=False,
        ),
    ],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, metavar="FILE.csv")
    ],
    dry_run: Annotated[bool, typer.Option(help="Check every row, write nothing.")] = False,
) -> None:
    c = context(ctx)
    db = c.database()
    options: dict[str, Any] = {
        "policy": c.settings.policy(),
        "now": utcnow(),
        "default_region": c.settings.default_phone_region,
        "default_locale": c.settings.default_locale,
        "default_timezone": c.settings.default_timezone,
    }
    try:
        with progress_bar() as bar:
            task = bar.add_task(f"checking {kind.value}", total=None)
            options["checked"] = lambda n: bar.update(
                task, total=n, description=f"importing {kind}"
            )
            options["progress"] = lambda n: bar.advance(task, n)
            if dry_run:
                # Everything the real run would do, in one transaction that is rolled back.
                with db.session() as session:
                    report = import_csv(session, kind, file, **options)
                    session.rollback()
            else:
                # Checked whole first, then written in short transactions: webhooks keep going.
                report = import_in_chunks(db, kind, file, **options)
    except ImportInterrupted as exc:
        for line in iter_errors(exc, limit=MAX_ERRORS_SHOWN):
            err.print(f"{file.name}: {line}", highlight=False, markup=False)
        fail(f"{file.name} was imported only in part: {exc}")
    except ImportFailed as exc:
        for line in iter_errors(exc, limit=MAX_ERRORS_SHOWN):
            err.print(f"{file.name}: {line}", highlight=False, markup=False)
        fail(f"{file.name} was not imported: {exc}")
    for warning in report.warnings:
        err.print(f"warning: {warning}", highlight=False, markup=False)
    out.print(f"{file.name}: {summary(report, dry_run=dry_run)}", highlight=False, markup=False)


import_file.__doc__ = _columns_help()


def summary(report: ImportReport, *, dry_run: bool) -> str:
    """``5 rows checked: 4 orders, 1 of them new, 3 already present``, and so on."""
    rows = f"{report.rows} row(s)"
    w = report.written
    if report.kind is ImportKind.ORDERS:
        total = w["orders"] + w["already_present"]
        what = f"{total} order(s): {w['orders']} new, {w['already_present']} already imported"
    else:
        noun = {"purchase_orders": "purchase order(s)", "products": "product(s)"}
        what = ", ".join(f"{n} {noun.get(k, k)}" for k, n in w.items())
    if dry_run:
        return f"{rows} checked, nothing written (dry run): {what}"
    return f"{rows} imported: {what}"
