"""The exact definitions the figures rest on: nearest-rank percentiles and closed-open bands."""

from store.analytics.common import DAY, WAIT_BANDS_DAYS, band_of, distribution


def test_percentiles_are_nearest_rank_observed_values() -> None:
    figures = distribution([50, 10, 40, 20, 30, 60, 70, 80, 90, 100])
    assert figures.p50_seconds == 50  # the 5th of 10
    assert figures.p90_seconds == 90  # the 9th of 10
    assert figures.max_seconds == 100
    assert distribution([7]).p90_seconds == 7


def test_a_wait_of_exactly_seven_days_is_in_the_7_to_14_band() -> None:
    assert band_of(7 * DAY - 1, WAIT_BANDS_DAYS) == 0
    assert band_of(7 * DAY, WAIT_BANDS_DAYS) == 1
    assert band_of(30 * DAY, WAIT_BANDS_DAYS) == 3


def test_an_empty_distribution_has_no_percentiles_and_empty_buckets() -> None:
    figures = distribution([])
    assert (figures.count, figures.p50_seconds, figures.max_seconds) == (0, None, None)
    assert sum(b.count for b in figures.histogram) == 0
