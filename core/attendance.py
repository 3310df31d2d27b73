"""Sessions and attendance records (read side)."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from core.eventlog import Event
from core.services import Rollcall
from core.session_rules import STATE_SQL, admit
from core.timeutil import day_bounds, from_ms, local_day


def sessions_between(app: Rollcall, start: date, end: date) -> pd.DataFrame:
    """Sessions whose start falls on local days [start, end], with their attendance counts."""
    lo, hi = day_bounds(start, end, app.settings.tz)
    return app.db.query(
        f"""
        SELECT s.session_id, c.name AS class_name, s.class_id, s.starts_at, s.ends_at, {STATE_SQL} AS state,
               (SELECT count(*) FROM class_members m WHERE m.class_id = s.class_id) AS expected,
               count(a.student_id) FILTER (WHERE a.status IN ('present', 'late')) AS attended,
               count(a.student_id) FILTER (WHERE a.status = 'late') AS late
        FROM sessions s JOIN classes c USING (class_id)
        LEFT JOIN attendance a USING (session_id)
        WHERE s.starts_at >= ? AND s.starts_at < ?
        GROUP BY ALL ORDER BY s.starts_at
        """,
        [lo, hi],
    )


def student_history(app: Rollcall, student_id: str) -> pd.DataFrame:
    """Every past or open session of the student's classes: present, late, or absent (no record)."""
    return app.db.query(
        f"""
        SELECT s.starts_at, c.name AS class_name, s.session_id,
               CASE WHEN a.status IS NOT NULL THEN a.status
                    WHEN {STATE_SQL} = 'ended' THEN 'absent'
                    ELSE 'not yet' END AS status,
               a.checked_at, a.method
        FROM class_members m
        JOIN sessions s USING (class_id)
        JOIN classes c USING (class_id)
        LEFT JOIN attendance a ON a.session_id = s.session_id AND a.student_id = m.student_id
        WHERE m.student_id = ? AND s.starts_at <= now()
        ORDER BY s.starts_at DESC
        """,
        [student_id],
    )


def open_session_for(app: Rollcall, student_id: str, at: datetime) -> dict | None:
    """The session of one of the student's classes whose time window contains `at` (and not ended early)."""
    df = app.db.query(
        """
        SELECT s.* FROM sessions s JOIN class_members m USING (class_id)
        WHERE m.student_id = ? AND s.starts_at <= ? AND ? <= s.ends_at
          AND (s.ended_at IS NULL OR ? < s.ended_at)
        ORDER BY s.starts_at DESC LIMIT 1
        """,
        [student_id, at, at, at],
    )
    return None if df.empty else df.iloc[0].to_dict()


def checkin_event(app: Rollcall, student_id: str, at_ms: int, method: str, actor: str, *, source: str = "app",
                  score: float | None = None, evidence: dict | None = None) -> Event | None:
    """The attendance event for a sighting by a device camera, or None when it does not count: the same rule as
    the webcam's (core.session_rules.admit) for the person's session open at that time.

    The id is the session and the person, so however many sightings, cameras or processes report
    the same person, one record per person per session is kept.
    """
    from core.sessions import already_attended_today

    at = from_ms(at_ms)
    session = open_session_for(app, student_id, at)
    if session is None:
        return None
    day = local_day(at, app.settings.tz)
    status, _ = admit(session, at, member=True,  # open_session_for looks among the person's classes only
                      attended_elsewhere_today=lambda: already_attended_today(
                          app, student_id, day, except_session=session["session_id"]))
    if status is None:
        return None
    return attendance_event(session["session_id"], student_id, status, at_ms, method, actor, source=source,
                            score=score, evidence=evidence)


def attendance_event(session_id: str, student_id: str, status: str, at_ms: int, method: str, actor: str, *,
                     source: str = "app", score: float | None = None, evidence: dict | None = None) -> Event:
    return Event(id=f"attendance:{session_id}:{student_id}", kind="attendance.recorded", ts_ms=at_ms,
                 actor=actor, source=source, payload={"session_id": session_id, "student_id": student_id,
                                       "status": status, "method": method, "at_ms": at_ms, "score": score,
                                       **({"evidence": evidence} if evidence else {})})


def latest_checkins(app: Rollcall, session_id: str, limit: int = 8) -> pd.DataFrame:
    """The session's newest records with the person's name and, for face check-ins, the encrypted crop."""
    return app.db.query(
        """
        SELECT a.student_id, coalesce(p.name, a.student_id) AS name, a.status, a.checked_at, a.method, a.score,
               a.liveness, e.crop_token
        FROM attendance a LEFT JOIN people p USING (student_id) LEFT JOIN evidence_crops e USING (event_id)
        WHERE a.session_id = ? AND a.attended ORDER BY a.checked_at DESC LIMIT ?
        """,
        [session_id, limit],
    )


def evidence_crop(app: Rollcall, student_id: str, token: str | None) -> bytes | None:
    """The JPEG face crop kept with a record; None when there is none or the person was erased."""
    from core.keys import KeyErasedError

    if not token:
        return None
    try:
        return app.keys.decrypt(student_id, token)
    except KeyErasedError:
        return None
