"""The analytics page's content: ``store.analytics``' figures as charts and table rows.

The dashboard (``bot/web/agent/analytics.py``) renders these; the CSV links and the API carry
the same figures unrounded (``store.analytics.export``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.agents import svg_charts
from bot.agents.svg_charts import Chart, Item
from store.analytics.common import Distribution
from store.analytics.suppliers import Scorecard
from store.analytics.waiting import Money, WaitingReport
from store.money import amount_text

CHART_WEEKS = 12  # the weekly chart shows the latest weeks; the CSV has every week
TOP_SKUS = 10


def days(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 86_400:.1f} d"


def share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


@dataclass(frozen=True, slots=True)
class Leg:
    name: str
    figures: Distribution

    @property
    def p50(self) -> str:
        return days(self.figures.p50_seconds)

    @property
    def p90(self) -> str:
        return days(self.figures.p90_seconds)

    @property
    def max(self) -> str:
        return days(self.figures.max_seconds)

    @property
    def mean(self) -> str:
        return days(self.figures.mean_seconds)


@dataclass(frozen=True, slots=True)
class MoneyRow:
    subject: str
    currency: str
    kept: str
    lost: str
    waiting: str
    lost_minor: int


@dataclass(frozen=True, slots=True)
class CurrencyBlock:
    currency: str
    kept: str
    lost: str
    waiting: str
    weekly: Chart


@dataclass(frozen=True, slots=True)
class AnalyticsPage:
    scorecards: list[Scorecard]
    legs: list[Leg]
    histogram: Chart
    choices: WaitingReport
    choices_chart: Chart
    currencies: list[CurrencyBlock]
    by_sku: list[MoneyRow]
    by_supplier: list[MoneyRow]


def analytics_page(cards: list[Scorecard], report: WaitingReport) -> AnalyticsPage:
    flow = report.flow
    legs = [
        Leg("Backorder → allocation", flow.backorder_to_allocation),
        Leg("Allocation → shipment", flow.allocation_to_shipment),
        Leg("Backorder → shipment", flow.backorder_to_shipment),
    ]
    return AnalyticsPage(
        scorecards=cards,
        legs=legs,
        histogram=_histogram(flow.backorder_to_allocation, flow.backorder_to_shipment),
        choices=report,
        choices_chart=_choices(report),
        currencies=[
            _currency_block(currency, money, report)
            for currency, money in sorted(report.revenue.totals.items())
        ],
        by_sku=sorted(_rows(report.revenue.by_sku), key=lambda r: -r.lost_minor)[:TOP_SKUS],
        by_supplier=_rows(report.revenue.by_supplier),
    )


def _histogram(to_allocation: Distribution, to_shipment: Distribution) -> Chart:
    groups = [
        (
            alloc.label,
            [
                Item("reserved", alloc.count, str(alloc.count), "main"),
                Item("shipped", ship.count, str(ship.count), "switch"),
            ],
        )
        for alloc, ship in zip(to_allocation.histogram, to_shipment.histogram, strict=True)
    ]
    return svg_charts.columns(
        "wait-histogram",
        "How long backordered lines waited",
        "Lines by days from backorder until reserved (green) and until shipped (blue).",
        groups,
    )


def _choices(report: WaitingReport) -> Chart:
    items = [
        Item(
            band.band,
            band.cancel_rate or 0.0,
            f"{share(band.cancel_rate)} ({band.cancel} of {band.decisions})",
            "cancel",
        )
        for band in report.choices
    ]
    return svg_charts.horizontal(
        "cancel-rate",
        "Cancel rate by how long customers had waited",
        "Share of decisions that cancelled, per wait band.",
        items,
    )


def _currency_block(currency: str, money: Money, report: WaitingReport) -> CurrencyBlock:
    weeks = [(w, t[currency]) for w, t in report.revenue.by_week.items() if currency in t]
    groups = [
        (
            week.strftime("%m-%d"),
            [
                Item("kept", m.kept, amount_text(m.kept, currency), "kept"),
                Item("lost", m.lost, amount_text(m.lost, currency), "lost"),
            ],
        )
        for week, m in weeks[-CHART_WEEKS:]
    ]
    chart = svg_charts.columns(
        f"weekly-{currency}",
        f"Revenue kept and lost per week, {currency}",
        "By the week the lines were backordered: kept (waited or switched, green) and lost"
        " (cancelled, red).",
        groups,
    )
    return CurrencyBlock(
        currency,
        amount_text(money.kept, currency),
        amount_text(money.lost, currency),
        amount_text(money.amount["waiting"], currency),
        chart,
    )


def _rows(table: dict[str, dict[str, Money]]) -> list[MoneyRow]:
    return [
        MoneyRow(
            subject,
            currency,
            amount_text(m.kept, currency),
            amount_text(m.lost, currency),
            amount_text(m.amount["waiting"], currency),
            m.lost,
        )
        for subject, by_currency in sorted(table.items())
        for currency, m in sorted(by_currency.items())
    ]
