"""The analytics as plain data: JSON-ready dicts and flat CSV rows, the same figures everywhere
(CLI ``--json`` / ``--csv``, ``/api/analytics/...``, the dashboard's CSV links).

Money stays integer minor units of its currency (``*_minor`` keys, ``currency`` beside them);
durations stay whole seconds (``*_seconds``); shares are fractions of 1, ``None`` when nothing
was counted.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

from store.analytics.common import Distribution
from store.analytics.suppliers import Scorecard
from store.analytics.waiting import OUTCOMES, Money, WaitingReport

CSV_HEADER = ("section", "subject", "currency", "measure", "value")


def scorecard_record(card: Scorecard) -> dict[str, Any]:
    return {
        "supplier": card.supplier,
        "products": card.products,
        "receipts": card.receipts,
        "promised_receipts": card.promised_receipts,
        "on_first_date": card.on_first_date,
        "on_first_date_share": card.on_first_date_share,
        "average_days_late": card.average_days_late,
        "max_days_late": card.max_days_late,
        "date_changes": card.date_changes,
        "slips": card.slips,
        "slip_days": card.slip_days,
        "average_slip_days": card.average_slip_days,
        "max_slip_days": card.max_slip_days,
        "pulled_in": card.pulled_in,
        "withdrawn": card.withdrawn,
        "open_backorder_lines": card.open_backorder_lines,
        "open_backorder_units": card.open_backorder_units,
        "receipts_history": [
            {
                "sku": r.sku,
                "reference": r.reference,
                "quantity": r.quantity,
                "received_on": r.received_on.isoformat(),
                "first_promised": r.first_promised.isoformat() if r.first_promised else None,
                "last_promised": r.last_promised.isoformat() if r.last_promised else None,
                "days_late": r.days_late,
            }
            for r in card.history
        ],
    }


def distribution_record(d: Distribution) -> dict[str, Any]:
    record = dataclasses.asdict(d)
    record["histogram"] = [{"band": b.label, "count": b.count} for b in d.histogram]
    return record


def money_record(money: Money) -> dict[str, Any]:
    return {
        "kept_minor": money.kept,
        "lost_minor": money.lost,
        "lines": dict(money.lines),
        "amount_minor": dict(money.amount),
    }


def _by_currency(table: dict[str, Money]) -> dict[str, Any]:
    return {currency: money_record(m) for currency, m in sorted(table.items())}


def waiting_record(report: WaitingReport) -> dict[str, Any]:
    flow, revenue = report.flow, report.revenue
    return {
        "flow": {
            "backorder_to_allocation": distribution_record(flow.backorder_to_allocation),
            "allocation_to_shipment": distribution_record(flow.allocation_to_shipment),
            "backorder_to_shipment": distribution_record(flow.backorder_to_shipment),
        },
        "choices_by_wait": [
            {
                "band": b.band,
                "wait": b.wait,
                "switch": b.switch,
                "cancel": b.cancel,
                "by_silence": b.by_silence,
                "decisions": b.decisions,
                "cancel_rate": b.cancel_rate,
            }
            for b in report.choices
        ],
        "revenue": {
            "totals": _by_currency(revenue.totals),
            "by_sku": {sku: _by_currency(t) for sku, t in sorted(revenue.by_sku.items())},
            "by_supplier": {s: _by_currency(t) for s, t in sorted(revenue.by_supplier.items())},
            "by_week": {w.isoformat(): _by_currency(t) for w, t in revenue.by_week.items()},
        },
    }


def waiting_rows(report: WaitingReport) -> list[tuple[str, str, str, str, object]]:
    """Every figure of ``waiting_record`` as one (section, subject, currency, measure, value)."""
    rows: list[tuple[str, str, str, str, object]] = []
    legs = dataclasses.asdict(report.flow)
    for leg in legs:
        d: Distribution = getattr(report.flow, leg)
        for measure in ("count", "p50_seconds", "p90_seconds", "max_seconds", "mean_seconds"):
            rows.append(("flow", leg, "", measure, getattr(d, measure)))
        rows.extend(("flow_histogram", leg, "", b.label, b.count) for b in d.histogram)
    for band in report.choices:
        for measure in ("wait", "switch", "cancel", "by_silence", "decisions", "cancel_rate"):
            rows.append(("choices_by_wait", band.band, "", measure, getattr(band, measure)))
    revenue = report.revenue
    rows.extend(_money_rows("revenue_total", {"all": revenue.totals}))
    rows.extend(_money_rows("revenue_by_sku", revenue.by_sku))
    rows.extend(_money_rows("revenue_by_supplier", revenue.by_supplier))
    weeks = {w.isoformat(): t for w, t in revenue.by_week.items()}
    rows.extend(_money_rows("revenue_by_week", weeks))
    return rows


def _money_rows(
    section: str, tables: dict[str, dict[str, Money]]
) -> list[tuple[str, str, str, str, object]]:
    rows: list[tuple[str, str, str, str, object]] = []
    for subject, table in sorted(tables.items()):
        for currency, money in sorted(table.items()):
            rows.append((section, subject, currency, "kept_minor", money.kept))
            rows.append((section, subject, currency, "lost_minor", money.lost))
            for outcome in OUTCOMES:
                rows.append((section, subject, currency, f"{outcome}_lines", money.lines[outcome]))
                rows.append((section, subject, currency, f"{outcome}_minor", money.amount[outcome]))
    return rows


def scorecard_rows(cards: list[Scorecard]) -> list[tuple[str, str, str, str, object]]:
    rows: list[tuple[str, str, str, str, object]] = []
    for card in cards:
        record = scorecard_record(card)
        for measure, value in record.items():
            if measure not in ("supplier", "receipts_history"):
                rows.append(("supplier", card.supplier, "", measure, value))
    return rows


def to_csv(rows: list[tuple[str, str, str, str, object]]) -> str:
    """CSV text with ``CSV_HEADER``; empty cells for ``None``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([_cell(cell) for cell in row])
    return buffer.getvalue()


def _cell(value: object) -> object:
    # A SKU or supplier name starting with = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value
