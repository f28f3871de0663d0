"""What a broadcast may cost: rendering time over the audience, and SMS segments per message.

Each render of an agent's text is bounded on its own (``messaging.text_sandbox``); a preview
renders it for every customer of the audience, so the sum is bounded too. And a text that fills
in to many SMS segments is billed that many times per customer: the interfaces warn (the
preview) or ask (the CLI) before queueing one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from messaging.broadcast_content import SAMPLE_ROW, Content, ContentError
from messaging.notifier import ShopVoice
from messaging.segments import count_segments
from store.customers import SUPPORTED_LOCALES
from store.models import Channel

# Above this many segments, a broadcast's SMS is "long": each one is billed as that many.
LONG_SMS_SEGMENTS = 3
# Rendering the text for the whole audience of a preview, summed (the database time is not).
PREVIEW_RENDER_SECONDS = 20.0


@dataclass
class RenderTimer:
    """Sums the time spent rendering; refuses the content once it passes ``seconds``."""

    seconds: float
    spent: float = field(default=0.0)
    _started: float = field(default=0.0)

    def __enter__(self) -> RenderTimer:
        self._started = time.monotonic()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.spent += time.monotonic() - self._started
        if self.spent > self.seconds:
            raise ContentError(
                "text",
                f"filling the text in for this audience takes more than {self.seconds:g} "
                "seconds; make it simpler",
            )


def long_sms_warning(segments: int) -> str | None:
    """The warning for an SMS of ``segments`` parts, or None when it is not long."""
    if segments <= LONG_SMS_SEGMENTS:
        return None
    return (
        f"each SMS of this broadcast is {segments} segments long, billed as {segments} "
        f"messages per customer (more than {LONG_SMS_SEGMENTS}); shorten the text"
    )


def sample_sms_segments(content: Content, voice: ShopVoice) -> int:
    """The segments of the SMS a sample customer gets, the most over the languages: what the
    CLI checks before queueing, without reading the audience."""
    return max(
        count_segments(content.render(SAMPLE_ROW, Channel.SMS, voice, locale).text).segments
        for locale in SUPPORTED_LOCALES
    )
