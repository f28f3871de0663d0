"""Who of a broadcast's audience gets what: each customer's channel, text and quiet-hours
deferral, or the reason they are skipped, and the counts a preview and a queueing keep.

Nothing here touches the database: the audience rows come from ``store.audience``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from jinja2 import TemplateError

from messaging.broadcast_content import Content
from messaging.broadcast_limits import RenderTimer, long_sms_warning
from messaging.notifier import ShopVoice
from messaging.quiet_hours import QuietHours
from messaging.segments import count_segments
from messaging.types import Rendered
from store.audience import AudienceFilter, AudienceRow
from store.models import CUSTOMER_CHANNELS, Channel, ReachState


@dataclass(slots=True)
class Tally:
    """Counts over an audience: who gets a message, on what, in which language; who not, why."""

    matched: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    by_locale: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    quiet_hours_deferred: int = 0

    @property
    def recipients(self) -> int:
        return sum(self.by_channel.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "recipients": self.recipients,
            "by_channel": dict(self.by_channel),
            "by_locale": dict(self.by_locale),
            "skipped": dict(self.skipped),
            "quiet_hours_deferred": self.quiet_hours_deferred,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        return cls(
            matched=int(data.get("matched", 0)),
            by_channel=Counter(data.get("by_channel", {})),
            by_locale=Counter(data.get("by_locale", {})),
            skipped=Counter(data.get("skipped", {})),
            quiet_hours_deferred=int(data.get("quiet_hours_deferred", 0)),
        )


@dataclass(frozen=True, slots=True)
class Sample:
    """The message one real customer of the audience would get."""

    locale: str
    channel: str
    text: str
    sms_segments: int | None  # None for Telegram
    encoding: str | None


@dataclass(frozen=True, slots=True)
class Preview:
    """A dry run: nothing is written."""

    tally: Tally
    samples: list[Sample]
    send_at: dt.datetime | None

    @property
    def sms_segments(self) -> int:
        """The most SMS segments any sample costs (what one SMS of this broadcast may bill)."""
        return max((s.sms_segments or 0 for s in self.samples), default=0)

    @property
    def warnings(self) -> list[str]:
        """What a person should read before sending (a many-segment SMS)."""
        long_sms = long_sms_warning(self.sms_segments)
        return [long_sms] if long_sms else []

    def to_json(self) -> dict[str, Any]:
        return {
            **self.tally.to_json(),
            "sms_segments": self.sms_segments,
            "warnings": self.warnings,
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "samples": [
                {
                    "locale": s.locale,
                    "channel": s.channel,
                    "text": s.text,
                    "sms_segments": s.sms_segments,
                    "encoding": s.encoding,
                }
                for s in self.samples
            ],
        }


class Planned(NamedTuple):
    """What one customer of the audience is sent."""

    channel: Channel
    address: str
    rendered: Rendered
    deferred: bool  # inside the customer's quiet hours at send time: the dispatcher waits


def route(row: AudienceRow, only: Channel | None) -> tuple[Channel, str] | str:
    """The channel and address for this customer, or why there is none.

    Reasons: ``opted_out``, ``unreachable``, ``invalid`` (from the channels the customer has)
    and ``no_channel`` (no phone and no linked Telegram chat, or not the one asked for).
    """
    channels = (
        [only]
        if only is not None
        else [row.preferred_channel] + [c for c in CUSTOMER_CHANNELS if c != row.preferred_channel]
    )
    states: list[ReachState] = []
    for channel in channels:
        if channel == Channel.SMS and row.phone:
            if row.sms_state == ReachState.ACTIVE:
                return channel, row.phone
            states.append(row.sms_state)
        elif channel == Channel.TELEGRAM and row.telegram_chat_id is not None:
            if row.telegram_state == ReachState.ACTIVE:
                return channel, str(row.telegram_chat_id)
            states.append(row.telegram_state)
    for state in (ReachState.OPTED_OUT, ReachState.INVALID, ReachState.UNREACHABLE):
        if state in states:
            return state.value
    return "no_channel"


@dataclass(frozen=True, slots=True)
class Planner:
    """Plans a chunk of the audience in the shop's voice and quiet hours."""

    voice: ShopVoice
    quiet_hours: QuietHours

    def plan(
        self,
        chunk: Sequence[AudienceRow],
        content: Content,
        filters: AudienceFilter,
        send_time: dt.datetime,
        timer: RenderTimer | None = None,
    ) -> list[tuple[AudienceRow, Planned | str]]:
        """Each row with what to send it, or the reason it is skipped; ``timer`` sums the
        rendering time (a preview's, so a costly text is refused before it is queued)."""
        planned: list[tuple[AudienceRow, Planned | str]] = []
        for row in chunk:
            routed = route(row, filters.channel)
            if isinstance(routed, str):
                planned.append((row, routed))
                continue
            if content.for_locale(row.locale).needs_coupon and not row.coupon:
                planned.append((row, "no_coupon"))
                continue
            channel, address = routed
            try:
                with timer or nullcontext():
                    rendered = content.render(row, channel, self.voice)
            except TemplateError:
                planned.append((row, "render_error"))
                continue
            deferred = self.quiet_hours.next_allowed(send_time, row.timezone) is not None
            planned.append((row, Planned(channel, address, rendered, deferred)))
        return planned


def count(tally: Tally, row: AudienceRow, planned: Planned | str) -> None:
    """Add one planned customer to the tally."""
    tally.matched += 1
    if isinstance(planned, str):
        tally.skipped[planned] += 1
        return
    tally.by_channel[planned.channel.value] += 1
    tally.by_locale[row.locale] += 1
    if planned.deferred:
        tally.quiet_hours_deferred += 1


def sample(locale: str, channel: Channel, text: str) -> Sample:
    """A preview's sample, with its SMS segments and encoding for an SMS."""
    if channel != Channel.SMS:
        return Sample(locale, channel.value, text, None, None)
    info = count_segments(text)
    return Sample(locale, channel.value, text, info.segments, info.encoding)
