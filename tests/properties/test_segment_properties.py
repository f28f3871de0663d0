"""Property test: the SMS segment counter against a reference that really packs the parts.

The reference encodes the text unit by unit (GSM-7 septets with the escape for the extension
table, or UTF-16 code units), keeps each character's units together, and fills parts of 153
septets / 67 code units greedily, as handsets and carriers split a concatenated SMS. It shares
no code with ``messaging.segments`` beyond the published alphabet tables.
"""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from messaging.segments import GSM7_BASIC, GSM7_EXTENSION, count_segments


def reference(text: str) -> tuple[str, int, int]:
    """(encoding, units, segments) by encoding and packing the text."""
    gsm = all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)
    if gsm:
        groups = [2 if c in GSM7_EXTENSION else 1 for c in text]
        single, part, encoding = 160, 153, "GSM-7"
    else:
        groups = [len(c.encode("utf-16-le")) // 2 for c in text]
        single, part, encoding = 70, 67, "UCS-2"
    units = sum(groups)
    if units <= single:
        return encoding, units, 1
    parts, room = 1, part
    for size in groups:
        if size > room:
            parts, room = parts + 1, part
        room -= size
    return encoding, units, parts


gsm_text = st.text(alphabet=GSM7_BASIC + GSM7_EXTENSION, max_size=1000)
mixed_text = st.text(
    alphabet=st.sampled_from([*list(GSM7_BASIC[:40] + GSM7_EXTENSION), "é", "á", "🙂", "𝄞", "中"]),
    max_size=800,
)


@settings(max_examples=1000, deadline=None)
@given(text=gsm_text | mixed_text | st.text(max_size=600))
@example("")
@example("a" * 160)
@example("a" * 161)
@example("a" * 152 + "€")  # the escape pair would straddle the first boundary
@example("🙂" * 35)
@example("a" * 66 + "🙂")  # the surrogate pair would straddle a UCS-2 boundary
def test_segments_match_the_reference(text: str) -> None:
    info = count_segments(text)
    assert (info.encoding, info.units, info.segments) == reference(text)


@given(n=st.integers(min_value=161, max_value=5000))
def test_plain_ascii_costs_ceil_n_over_153(n: int) -> None:
    assert count_segments("a" * n).segments == math.ceil(n / 153)
