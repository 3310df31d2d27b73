"""One admission rule for every check-in source, and the session state in Python and SQL agreeing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from core.session_rules import STATE_SQL, admit, session_state

START = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


def session(**overrides) -> dict:
    return {"session_id": "S", "status": "active", "starts_at": START, "ends_at": START + timedelta(hours=2),
            "late_after_min": 10, "ended_at": None, "once_per_day": False, **overrides}


@pytest.mark.parametrize("status", ["scheduled", "active", "ended"])
@pytest.mark.parametrize("minutes", [-30, 0, 5, 60, 119, 121, 600])
def test_the_state_in_python_and_in_sql_agree(status, minutes):
    s = session(status=status)
    now = START + timedelta(minutes=minutes)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # now() cannot be injected into DuckDB: compare at the real clock, with the session moved by the difference
    real_now = datetime.now(UTC)
    shift = real_now - now
    moved = session(status=status, starts_at=START + shift, ends_at=START + shift + timedelta(hours=2))
    sql = con.execute(f"SELECT {STATE_SQL} FROM (SELECT ?::VARCHAR AS status, ?::TIMESTAMPTZ AS starts_at, "
                      f"?::TIMESTAMPTZ AS ends_at) s", [status, moved["starts_at"], moved["ends_at"]]).fetchone()[0]
    assert sql == session_state(moved, real_now) == session_state(s, now)


def test_admission_needs_a_started_session_inside_its_window_and_a_member():
    def never() -> bool:
        return False

    at = START + timedelta(minutes=5)
    assert admit(session(), at, member=True, attended_elsewhere_today=never) == ("present", "")
    assert admit(session(), START + timedelta(minutes=11), member=True, attended_elsewhere_today=never)[0] == "late"
    assert admit(session(status="scheduled"), at, member=True, attended_elsewhere_today=never) == (
        None, "the session has not been started")
    assert admit(session(), START - timedelta(hours=2), member=True, attended_elsewhere_today=never)[0] is None
    assert admit(session(), START + timedelta(hours=3), member=True, attended_elsewhere_today=never)[0] is None
    assert admit(session(ended_at=at), at, member=True, attended_elsewhere_today=never)[1] == "attendance has ended"
    assert admit(session(), at, member=False, attended_elsewhere_today=never)[1] == "not in this class"
    assert admit(session(), at, member=True, attended_elsewhere_today=never, already_recorded=True)[1] == (
        "already recorded")
    asked = []
    assert admit(session(once_per_day=True), at, member=True,
                 attended_elsewhere_today=lambda: asked.append(1) or True)[1] == "already attended today"
    assert admit(session(once_per_day=False), at, member=True,
                 attended_elsewhere_today=lambda: asked.append(2) or True)[0] == "present"
    assert asked == [1]  # the query is made only when the session asks for it
