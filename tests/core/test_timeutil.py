"""Local days and milliseconds: the one home of the conversions (core/timeutil.py)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.timeutil import day_bounds, from_ms, local_day, local_today, to_ms

BANGKOK = ZoneInfo("Asia/Bangkok")


def test_ms_round_trip_is_exact_and_utc():
    at = datetime(2026, 3, 2, 9, 0, 0, 123000, tzinfo=BANGKOK)
    ms = to_ms(at)
    assert ms == 1772416800123
    assert from_ms(ms) == at and from_ms(ms).tzinfo is UTC
    assert from_ms(ms, BANGKOK).hour == 9


def test_a_late_evening_in_utc_is_already_tomorrow_in_bangkok():
    evening = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)  # 00:30 on 3 March in Bangkok
    assert local_day(evening, BANGKOK) == date(2026, 3, 3)
    assert local_today(BANGKOK, now=evening) == date(2026, 3, 3)
    assert local_today(UTC, now=evening) == date(2026, 3, 2)


def test_day_bounds_are_local_midnights_half_open():
    lo, hi = day_bounds(date(2026, 3, 2), date(2026, 3, 2), BANGKOK)
    assert (lo.isoformat(), hi.isoformat()) == ("2026-03-02T00:00:00+07:00", "2026-03-03T00:00:00+07:00")
    assert hi - lo == timedelta(days=1)
    lo, hi = day_bounds(date(2026, 3, 1), date(2026, 3, 31), BANGKOK)
    assert hi - lo == timedelta(days=31)


def test_a_day_with_a_clock_change_is_as_long_as_it_really_is():
    berlin = ZoneInfo("Europe/Berlin")  # clocks go forward on 29 March 2026: that day has 23 hours
    lo, hi = day_bounds(date(2026, 3, 29), date(2026, 3, 29), berlin)
    assert to_ms(hi) - to_ms(lo) == 23 * 3600_000
