"""Bar charts as geometry for server-rendered SVG (``templates/web/agent/chart.html``): no
script, no library. Each chart carries its title and a description for screen readers, and
every bar its own text label, so the figures read without colours or hovering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LABEL_WIDTH = 120  # room for a band, a week or a SKU left of horizontal bars
PLOT_WIDTH = 300
VALUE_WIDTH = 110  # the value written after each horizontal bar
BAR_HEIGHT = 20
BAR_GAP = 8
COLUMN_PLOT_HEIGHT = 160
COLUMN_WIDTH = 30
COLUMNS_MIN_WIDTH = 420
GROUP_GAP = 18
TEXT_BAND = 34  # under the columns: the group's label and room for the value labels above


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # what the bar is (band, week, series)
    value_text: str  # the figure, as written next to it
    series: str  # a CSS class suffix: the bar's colour
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Label:
    text: str
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Chart:
    ident: str  # unique on the page: ties <svg> to its <title> and <desc>
    title: str
    description: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    labels: tuple[Label, ...]
    horizontal: bool


@dataclass(frozen=True, slots=True)
class Item:
    label: str
    value: float
    value_text: str
    series: str = "main"


def horizontal(ident: str, title: str, description: str, items: Sequence[Item]) -> Chart:
    """One bar per item, scaled to the largest value; labels left, values right."""
    top = max((item.value for item in items), default=0) or 1
    bars, labels = [], []
    for i, item in enumerate(items):
        y = i * (BAR_HEIGHT + BAR_GAP)
        width = round(PLOT_WIDTH * max(0.0, item.value) / top)
        bars.append(
            Bar(item.label, item.value_text, item.series, LABEL_WIDTH, y, width, BAR_HEIGHT)
        )
        labels.append(Label(item.label, 0, y + BAR_HEIGHT - 6))
    height = max(1, len(items)) * (BAR_HEIGHT + BAR_GAP)
    return Chart(
        ident,
        title,
        description,
        LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH,
        height,
        tuple(bars),
        tuple(labels),
        horizontal=True,
    )


def columns(
    ident: str, title: str, description: str, groups: Sequence[tuple[str, Sequence[Item]]]
) -> Chart:
    """Vertical columns, one group per label (a histogram bucket, a week), side by side."""
    top = max((item.value for _, items in groups for item in items), default=0) or 1
    # A few groups still fill a readable width: each gets an equal slot, its columns centred.
    widest = max((len(items) for _, items in groups), default=1)
    natural = widest * (COLUMN_WIDTH + 2) + GROUP_GAP
    slot = max(natural, COLUMNS_MIN_WIDTH // max(1, len(groups)))
    bars, labels = [], []
    for g, (group_label, items) in enumerate(groups):
        x = g * slot + (slot - len(items) * (COLUMN_WIDTH + 2)) // 2
        for item in items:
            height = round(COLUMN_PLOT_HEIGHT * max(0.0, item.value) / top)
            y = TEXT_BAND // 2 + COLUMN_PLOT_HEIGHT - height
            bars.append(Bar(item.label, item.value_text, item.series, x, y, COLUMN_WIDTH, height))
            x += COLUMN_WIDTH + 2
        centre = g * slot + slot // 2
        labels.append(Label(group_label, centre, TEXT_BAND // 2 + COLUMN_PLOT_HEIGHT + 16))
    x = slot * len(groups)
    return Chart(
        ident,
        title,
        description,
        max(x, 1),
        COLUMN_PLOT_HEIGHT + TEXT_BAND + 4,
        tuple(bars),
        tuple(labels),
        horizontal=False,
    )
