"""SMS segment counting against known cases."""

from __future__ import annotations

import random

import pytest

from messaging.segments import (
    GSM7_BASIC,
    SegmentInfo,
    count_segments,
    fold_accents,
    is_gsm7,
    replace_typography,
)

GSM7_ACCENTED = "éèùìòÇØøÅåÄÖÑÜäöñüàÉßÆæ"


def test_gsm7_basic_table_has_127_characters_besides_escape() -> None:
    assert len(set(GSM7_BASIC)) == len(GSM7_BASIC) == 127


def test_empty_text_is_one_segment() -> None:
    assert count_segments("") == SegmentInfo("GSM-7", 0, 1)


def test_160_gsm_characters_fit_one_segment() -> None:
    assert count_segments("a" * 160) == SegmentInfo("GSM-7", 160, 1)


def test_161_gsm_characters_take_two_segments() -> None:
    assert count_segments("a" * 161) == SegmentInfo("GSM-7", 161, 2)


def test_concatenated_gsm_parts_carry_153_septets() -> None:
    assert count_segments("a" * 306).segments == 2
    assert count_segments("a" * 307).segments == 3


def test_70_ucs2_characters_fit_one_segment() -> None:
    assert count_segments("á" * 70) == SegmentInfo("UCS-2", 70, 1)


def test_71_ucs2_characters_take_two_segments() -> None:
    assert count_segments("á" * 71) == SegmentInfo("UCS-2", 71, 2)


def test_concatenated_ucs2_parts_carry_67_units() -> None:
    assert count_segments("á" * 134).segments == 2
    assert count_segments("á" * 135).segments == 3


def test_esta_forces_ucs2() -> None:
    assert count_segments("Tu pedido está en camino").encoding == "UCS-2"


@pytest.mark.parametrize("char", list(GSM7_ACCENTED))
def test_accented_letters_of_the_gsm7_table_stay_gsm7(char: str) -> None:
    assert count_segments(f"Hola {char}").encoding == "GSM-7"


@pytest.mark.parametrize("char", list("áíóúÁÍÓÚç"))
def test_accented_letters_outside_gsm7_force_ucs2(char: str) -> None:
    assert not is_gsm7(char)


def test_emoji_counts_two_utf16_units() -> None:
    assert count_segments("👍") == SegmentInfo("UCS-2", 2, 1)


def test_emoji_over_70_units_takes_two_segments() -> None:
    assert count_segments("a" * 68 + "👍").segments == 1
    assert count_segments("a" * 69 + "👍") == SegmentInfo("UCS-2", 71, 2)


def test_euro_sign_counts_two_septets() -> None:
    assert count_segments("€") == SegmentInfo("GSM-7", 2, 1)


@pytest.mark.parametrize("char", list("^{}\\[~]|€\f"))
def test_extension_characters_count_two_septets(char: str) -> None:
    assert count_segments(char * 80) == SegmentInfo("GSM-7", 160, 1)
    assert count_segments(char * 81).segments == 2


def test_escape_pair_is_not_split_across_parts() -> None:
    # 152 + 2 + 152 = 306 septets would fit two parts of 153, but the euro sign
    # straddles the first boundary and is carried to the second part whole.
    text = "a" * 152 + "€" + "a" * 152
    assert count_segments(text) == SegmentInfo("GSM-7", 306, 3)


def test_escape_pair_ending_exactly_at_the_boundary_stays() -> None:
    text = "a" * 151 + "€" + "a" * 153
    assert count_segments(text) == SegmentInfo("GSM-7", 306, 2)


def test_surrogate_pair_is_not_split_across_parts() -> None:
    text = "a" * 66 + "👍" + "a" * 66
    assert count_segments(text) == SegmentInfo("UCS-2", 134, 3)


def test_non_breaking_space_is_not_gsm7() -> None:
    assert not is_gsm7("10\u00a0€")


def test_curly_apostrophe_is_not_gsm7() -> None:
    assert not is_gsm7("it’s")


def test_replace_typography_makes_babel_output_gsm7() -> None:
    assert replace_typography("6:00\u202fPM – 1.234,50\u00a0€ “ok” …") == (
        '6:00 PM - 1.234,50 € "ok" ...'
    )


def test_fold_accents_drops_only_accents_missing_from_gsm7() -> None:
    assert fold_accents("María Ángela, está, miércoles, niño") == (
        "Maria Angela, esta, miércoles, niño"
    )


def test_fold_accents_leaves_emoji_alone() -> None:
    assert fold_accents("ok 👍") == "ok 👍"


def reference_segments(text: str) -> int:
    """Segments by packing one character at a time: slow, obviously right."""
    gsm = is_gsm7(text)
    costs = [
        (2 if c in "^{}\\[~]|€\f" else 1) if gsm else (2 if ord(c) > 0xFFFF else 1) for c in text
    ]
    single, part = (160, 153) if gsm else (70, 67)
    if sum(costs) <= single:
        return 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def test_segments_match_character_by_character_packing() -> None:
    rng = random.Random(20260601)
    alphabets = ["ab€[", "ab", "aá👍", "a👍", "€"]
    for _ in range(2000):
        text = "".join(rng.choices(rng.choice(alphabets), k=rng.randint(0, 500)))
        assert count_segments(text).segments == reference_segments(text), text
