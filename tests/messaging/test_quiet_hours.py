import datetime as dt

from messaging.quiet_hours import QuietHours

NIGHT = QuietHours(dt.time(21, 0), dt.time(8, 0))


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_daytime_is_allowed() -> None:
    assert NIGHT.next_allowed(_utc(2026, 11, 2, 12, 0), "UTC") is None


def test_late_evening_waits_until_next_morning() -> None:
    assert NIGHT.next_allowed(_utc(2026, 11, 2, 22, 30), "UTC") == _utc(2026, 11, 3, 8, 0)


def test_early_morning_waits_until_eight_the_same_day() -> None:
    assert NIGHT.next_allowed(_utc(2026, 11, 2, 3, 0), "UTC") == _utc(2026, 11, 2, 8, 0)


def test_window_is_in_the_recipients_time_zone() -> None:
    # 14:00 UTC is 23:00 in Tokyo and 09:00 in New York.
    now = _utc(2026, 11, 2, 14, 0)
    assert NIGHT.next_allowed(now, "America/New_York") is None
    assert NIGHT.next_allowed(now, "Asia/Tokyo") == _utc(2026, 11, 2, 23, 0)  # 08:00 JST


def test_end_of_window_is_allowed() -> None:
    assert NIGHT.next_allowed(_utc(2026, 11, 2, 8, 0), "UTC") is None
    assert NIGHT.next_allowed(_utc(2026, 11, 2, 21, 0), "UTC") is not None


def test_window_within_one_day() -> None:
    lunch = QuietHours(dt.time(13, 0), dt.time(14, 0))
    assert lunch.next_allowed(_utc(2026, 11, 2, 13, 30), "UTC") == _utc(2026, 11, 2, 14, 0)
    assert lunch.next_allowed(_utc(2026, 11, 2, 22, 0), "UTC") is None


def test_equal_start_and_end_means_no_quiet_hours() -> None:
    never = QuietHours(dt.time(0, 0), dt.time(0, 0))
    assert never.next_allowed(_utc(2026, 11, 2, 3, 0), "UTC") is None


def test_dst_change_inside_the_window_ends_at_local_eight() -> None:
    # Madrid leaves summer time on 2026-10-25 at 03:00 local.
    ends = NIGHT.next_allowed(_utc(2026, 10, 24, 22, 0), "Europe/Madrid")
    assert ends == _utc(2026, 10, 25, 7, 0)  # 08:00 CET


def test_unknown_zone_is_treated_as_utc() -> None:
    assert NIGHT.next_allowed(_utc(2026, 11, 2, 23, 0), "Not/AZone") == _utc(2026, 11, 3, 8, 0)
