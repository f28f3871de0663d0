"""How many SMS segments a text costs, written by hand.

The small counters on PyPI count Python characters, so an emoji (one character, two UTF-16 code
units on the wire) comes out one unit short. Here GSM-7 text is counted in septets (the extension
table's characters take an escape septet plus their own) and everything else in UTF-16 code units,
and a concatenated message is packed part by part the way handsets and carriers do it: an escape
pair or a surrogate pair is never split across two parts.

Also here, because it is knowledge of the GSM-7 alphabet: :func:`replace_typography` and
:func:`fold_accents`, which the SMS renderer uses to keep text in GSM-7 when it can.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SegmentInfo",
    "count_segments",
    "fold_accents",
    "is_gsm7",
    "replace_typography",
]

# GSM 03.38 default alphabet, in table order, without 0x1B (the escape to the extension table,
# which is not a character of its own).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Each of these is sent as ESC + one septet, so it costs two septets.
GSM7_EXTENSION = "\f^{}\\[~]|€"

GSM7_SINGLE = 160
GSM7_PART = 153  # 7 septets of each part go to the concatenation header
UCS2_SINGLE = 70
UCS2_PART = 67

_NON_GSM7 = re.compile("[^" + re.escape(GSM7_BASIC + GSM7_EXTENSION) + "]")
_EXTENSION = re.compile("[" + re.escape(GSM7_EXTENSION) + "]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """The cost of one SMS: its encoding, its length in that encoding's units, its segments.

    ``units`` is septets for GSM-7 and UTF-16 code units for UCS-2.
    """

    encoding: Encoding
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM-7 basic or extension table."""
    return _NON_GSM7.search(text) is None


def count_segments(text: str) -> SegmentInfo:
    """Count the segments ``text`` is billed as.

    An empty text is one segment: carriers bill an empty message like any other.
    """
    if is_gsm7(text):
        return _count("GSM-7", text, _EXTENSION, GSM7_SINGLE, GSM7_PART)
    return _count("UCS-2", text, _ASTRAL, UCS2_SINGLE, UCS2_PART)


def _count(
    encoding: Encoding, text: str, doubles: re.Pattern[str], single: int, part: int
) -> SegmentInfo:
    """Count units and parts, given the pattern of characters that take two units."""
    # Unit offset of each two-unit character: its index plus one for each such character before.
    starts = [match.start() + before for before, match in enumerate(doubles.finditer(text))]
    units = len(text) + len(starts)
    if units <= single:
        return SegmentInfo(encoding, units, 1)
    return SegmentInfo(encoding, units, _pack(units, frozenset(starts), part))


def _pack(units: int, double_starts: frozenset[int], capacity: int) -> int:
    """Number of parts of ``capacity`` units, moving a two-unit character that would straddle
    a boundary whole to the next part."""
    parts, start = 1, 0
    while units - start > capacity:
        end = start + capacity
        if end - 1 in double_starts:
            end -= 1
        parts, start = parts + 1, end
    return parts


# Characters that look the same to a reader as a GSM-7 one; a single one of them would otherwise
# turn the whole message into UCS-2 and halve what each segment carries. Babel puts U+202F before
# "PM" and U+00A0 inside amounts, so dates and prices need this, not only hand-typed text.
_TYPOGRAPHY = {
    "\u00a0": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2004": " ",
    "\u2005": " ",
    "\u2006": " ",
    "\u2007": " ",
    "\u2008": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u202f": " ",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
}
_TYPOGRAPHIC = re.compile("[" + "".join(_TYPOGRAPHY) + "]")


def replace_typography(text: str) -> str:
    """Replace typographic spaces, quotes, dashes and the ellipsis with their GSM-7 look-alikes."""
    # A regex finds the few characters to replace in C; str.translate would look up every one.
    return _TYPOGRAPHIC.sub(lambda match: _TYPOGRAPHY[match.group()], text)


@lru_cache(maxsize=1024)
def _fold(char: str) -> str:
    """``char`` without its accent when that leaves GSM-7 characters, else ``char``."""
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and is_gsm7(base) else char


def fold_accents(text: str) -> str:
    """Drop the accent from letters outside GSM-7 when the bare letter is in it (á -> a).

    Letters that GSM-7 has with their accent (é, ñ, ü, ...) are kept; characters with no GSM-7
    base (emoji, CJK) are left as they are.
    """
    return _NON_GSM7.sub(lambda match: _fold(match.group()), text)
