"""The rules of a session, once: its state, its time gate, and who may be checked in (every source).

The webcam (core/checkin/live.py), the ESP32-CAM frames (core/faces/frames.py) and QR cards all admit a
check-in through `admit`; pages show `session_state`, and SQL that needs the state uses `STATE_SQL`, its twin
(a test keeps the two in agreement).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd

STATES = ("upcoming", "open", "active", "ended")

# The same rule as session_state, for queries over sessions `s` (the clock is the database's now()).
STATE_SQL = """
    CASE WHEN s.status = 'ended' OR now() > s.ends_at THEN 'ended'
         WHEN s.status = 'active' THEN 'active'
         WHEN now() < s.starts_at THEN 'upcoming'
         ELSE 'open' END
"""


def _instant(value) -> datetime:
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


def session_state(session: dict, now: datetime | None = None) -> str:
    """upcoming (before its window, not started) · open (in its window, not started) · active (started by staff,
    not over) · ended (ended by staff, or its window is over)."""
    now = now or datetime.now(UTC)
    if session.get("status") == "ended" or now > _instant(session["ends_at"]):
        return "ended"
    if session.get("status") == "active":
        return "active"
    return "upcoming" if now < _instant(session["starts_at"]) else "open"


def session_gate(session: dict, at: datetime, *, must_be_started: bool = False) -> tuple[str | None, str]:
    """("present" | "late", "") when a sighting at `at` counts for the session, else (None, why not).

    Attendance is taken only inside the session's time window and before it is ended; arrivals after
    the late threshold are late. Check-ins also need the session started by staff (see `admit`).
    """
    ended_at = session.get("ended_at")
    if session.get("status") == "ended" or (ended_at is not None and not pd.isna(ended_at)
                                            and at >= _instant(ended_at)):
        return None, "attendance has ended"
    if must_be_started and session.get("status") != "active":
        return None, "the session has not been started"
    starts_at, ends_at = _instant(session["starts_at"]), _instant(session["ends_at"])
    if at < starts_at:
        return None, f"the session opens at {starts_at:%H:%M}"
    if at > ends_at:
        return None, f"the session closed at {ends_at:%H:%M}"
    late_from = starts_at + timedelta(minutes=int(session["late_after_min"]))
    return ("late" if at > late_from else "present"), ""


def admit(session: dict, at: datetime, *, member: bool, attended_elsewhere_today: Callable[[], bool],
          already_recorded: bool = False) -> tuple[str | None, str]:
    """Whether a person seen at `at` is checked in to the session, by any source: ("present" | "late", "") or
    (None, why not). The session must be started by staff and not ended, `at` inside its window, the person a
    member of its class and not recorded yet, and — for a once-per-day session — not present at another session
    that day (asked last: it costs a query)."""
    if already_recorded:
        return None, "already recorded"
    if not member:
        return None, "not in this class"
    status, why = session_gate(session, at, must_be_started=True)
    if status is None:
        return None, why
    if session.get("once_per_day") and attended_elsewhere_today():
        return None, "already attended today"
    return status, ""
