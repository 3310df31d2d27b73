"""Time in one place: the log stores UTC milliseconds, people think in local days.

A leaf module (standard library only), so every layer — the event log, the read model, the pages — can use it.
"""

from __future__ import annotations

import time as _time
from datetime import UTC, date, datetime, time, timedelta, tzinfo


def now_ms() -> int:
    """The wall clock in UTC milliseconds (the unit of every event's `ts_ms`)."""
    return int(_time.time() * 1000)


def to_ms(at: datetime) -> int:
    """An aware datetime as UTC milliseconds (a naive one is taken as local machine time, as Python does)."""
    return int(at.timestamp() * 1000)


def from_ms(ms: float, tz: tzinfo = UTC) -> datetime:
    """UTC milliseconds as an aware datetime, in `tz` (UTC unless told)."""
    return datetime.fromtimestamp(ms / 1000, tz=tz)


def local_day(at: datetime, tz: tzinfo) -> date:
    """The local calendar day of an aware instant."""
    return at.astimezone(tz).date()


def local_today(tz: tzinfo, now: datetime | None = None) -> date:
    """Today's local date (of `now` when given, so tests can fix the clock)."""
    return local_day(now or datetime.now(UTC), tz)


def day_bounds(start: date, end: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[local midnight of `start`, local midnight after `end`) as aware datetimes: the instants of local days
    start..end. Half-open, so a query uses `>= lo AND < hi` and a day change at midnight is never counted twice."""
    return datetime.combine(start, time.min, tz), datetime.combine(end + timedelta(days=1), time.min, tz)
