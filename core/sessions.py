"""Classes, their schedules and sessions as staff run them: set up a class, schedule it weekly or on a date,
create the sessions of a date range, start one (its check-in setup), end it, correct a record with a reason.

Plain functions over the read model; every change is an event (so it is audited and replayable). The time
rules of a sighting are in core/session_rules.py; the check-in page reads the setup written here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd

from core.eventlog import Event
from core.names import sort_sql
from core.services import Rollcall
from core.session_rules import session_state
from core.timeutil import day_bounds, local_day, to_ms

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
LIVENESS = {"off": "Off", "head_turn": "Head turn", "blink": "Blink", "either": "Head turn or blink"}
CORRECTION_STATUSES = ("present", "late", "absent", "excused")
_CLASS_ID = re.compile(r"^[^\s/]{1,40}$")


class SessionError(ValueError):
    """A refused change to a class, schedule or session, with a message fit to show."""


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _clock(value: time | str, label: str) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    try:
        return time.fromisoformat(str(value).strip()).replace(second=0, microsecond=0)
    except ValueError:
        raise SessionError(f"{label} {value!r} is not a time like 09:30.") from None


def _none_if_na(value):
    return None if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)) else value


# --- classes ---------------------------------------------------------------------------------

def list_classes(app: Rollcall) -> pd.DataFrame:
    """Every class with how many members and schedules it has."""
    return app.db.query(
        """
        SELECT c.class_id, c.name, c.department, c.teacher,
               (SELECT count(*) FROM class_members m WHERE m.class_id = c.class_id) AS members,
               (SELECT count(*) FROM schedules s WHERE s.class_id = c.class_id) AS schedules
        FROM classes c ORDER BY c.name COLLATE th, c.class_id
        """
    )


def get_class(app: Rollcall, class_id: str) -> dict | None:
    df = app.db.query("SELECT * FROM classes WHERE class_id = ?", [class_id])
    return None if df.empty else {k: _none_if_na(v) for k, v in df.iloc[0].to_dict().items()}


def class_members(app: Rollcall, class_id: str) -> pd.DataFrame:
    return app.db.query(
        "SELECT p.student_id, p.name, p.name_en, p.department FROM class_members m JOIN people p USING (student_id) "
        f"WHERE m.class_id = ? ORDER BY {sort_sql('p.name')}, p.student_id",
        [class_id],
    )


def people_choices(app: Rollcall) -> pd.DataFrame:
    """Everyone who can be put in a class (for a picker)."""
    return app.db.query(f"SELECT student_id, name, name_en FROM people ORDER BY {sort_sql('name')}, student_id")


def parse_ids(text: str) -> list[str]:
    """Student ids pasted one a line, or separated by commas, semicolons or spaces."""
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


def upsert_class(app: Rollcall, actor: str, class_id: str, name: str, *, department: str = "", teacher: str = "",
                 members: list[str] | None = None) -> str:
    """Create or edit a class. `members` (student ids) replaces the membership; None keeps it."""
    class_id = (class_id or "").strip()
    if not _CLASS_ID.match(class_id):
        raise SessionError("Give the class an id of up to 40 characters without spaces, e.g. CPE401.")
    if not (name or "").strip():
        raise SessionError("Give the class a name.")
    payload: dict = {"class_id": class_id, "name": name.strip(), "department": (department or "").strip() or None,
                     "teacher": (teacher or "").strip() or None}
    if members is not None:
        wanted = list(dict.fromkeys(str(m).strip() for m in members if str(m).strip()))
        known = set(app.db.query("SELECT student_id FROM people WHERE student_id IN (SELECT unnest(?))",
                                 [wanted])["student_id"]) if wanted else set()
        unknown = [m for m in wanted if m not in known]
        if unknown:
            shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            raise SessionError(f"Not on the roster: {shown}. Import them on the People page first.")
        payload["members"] = wanted
    app.submit(Event.new("class.upserted", payload, actor=actor))
    return class_id


# --- schedules -------------------------------------------------------------------------------

def schedule_id_for(class_id: str, start_time: time, *, weekday: int | None = None, on_date: date | None = None) -> str:
    if weekday is not None:
        when = WEEKDAYS[weekday][:3].lower()
    elif on_date is not None:
        when = on_date.isoformat()
    else:
        raise ValueError("a schedule has a weekday or a date")
    return f"{class_id}-{when}-{start_time:%H%M}"


def _check_times(start: time, end: time, late_after_min: int) -> None:
    if end <= start:
        raise SessionError(f"The end ({end:%H:%M}) must be after the start ({start:%H:%M}).")
    length = (datetime.combine(date.min, end) - datetime.combine(date.min, start)) // timedelta(minutes=1)
    if not 0 <= late_after_min <= length:
        raise SessionError(f"The late threshold must be between 0 and {length} minutes (the session's length); "
                           f"got {late_after_min}.")


def add_schedule(app: Rollcall, actor: str, class_id: str, *, start_time: time | str, end_time: time | str,
                 weekday: int | None = None, on_date: date | None = None, late_after_min: int | None = None,
                 room: str = "") -> str:
    """A weekly (weekday 0 = Monday) or dated schedule; the same class, day and start replaces the old one."""
    if get_class(app, class_id) is None:
        raise SessionError(f"No class {class_id!r}. Create it on the Classes tab first.")
    if (weekday is None) == (on_date is None):
        raise SessionError("Choose either a weekday (weekly) or a date (once).")
    if weekday is not None and weekday not in range(7):
        raise SessionError(f"Weekday must be 0 (Monday) to 6 (Sunday); got {weekday}.")
    start, end = _clock(start_time, "Start"), _clock(end_time, "End")
    late = app.settings.default_late_after_min if late_after_min is None else int(late_after_min)
    _check_times(start, end, late)
    schedule_id = schedule_id_for(class_id, start, weekday=weekday, on_date=on_date)
    app.submit(Event.new("schedule.upserted", {
        "schedule_id": schedule_id, "class_id": class_id, "weekday": weekday,
        "on_date": on_date.isoformat() if on_date else None, "start_time": f"{start:%H:%M}",
        "end_time": f"{end:%H:%M}", "late_after_min": late, "room": (room or "").strip() or None}, actor=actor))
    return schedule_id


def remove_schedule(app: Rollcall, actor: str, schedule_id: str) -> None:
    """Sessions already created from it stay (started or not); re-creating sessions skips it from now on."""
    row = app.db.query("SELECT class_id FROM schedules WHERE schedule_id = ?", [schedule_id])
    if row.empty:
        raise SessionError(f"No schedule {schedule_id!r}.")
    app.submit(Event.new("schedule.removed", {"schedule_id": schedule_id, "class_id": row.iloc[0]["class_id"]},
                         actor=actor))


def list_schedules(app: Rollcall, class_id: str | None = None) -> pd.DataFrame:
    where, params = ("WHERE s.class_id = ?", [class_id]) if class_id else ("", [])
    df = app.db.query(
        "SELECT s.schedule_id, s.class_id, c.name AS class_name, s.weekday, s.on_date, s.start_time, s.end_time, "
        f"s.late_after_min, s.room FROM schedules s LEFT JOIN classes c USING (class_id) {where} "
        "ORDER BY c.name COLLATE th, s.on_date NULLS FIRST, s.weekday, s.start_time",
        params,
    )
    df.insert(3, "when", [f"every {WEEKDAYS[int(w)]}" if not pd.isna(w) else f"{pd.Timestamp(d):%Y-%m-%d}"
                          for w, d in zip(df["weekday"], df["on_date"], strict=True)])
    return df


# --- sessions --------------------------------------------------------------------------------

def session_id_for(class_id: str, day: date, start_time: time) -> str:
    return f"{class_id}-{day.isoformat()}-{start_time:%H%M}"


def generate_sessions(app: Rollcall, start_date: date, end_date: date, actor: str, *,
                      class_id: str | None = None) -> list[Event]:
    """Create the session of every schedule occurrence on local days [start_date, end_date]; returns the events.

    Ids are made from the class, the day and the start, so running it again adds nothing. A session already
    started or ended is never touched; one not yet started follows its schedule's end and late threshold and
    keeps its setup. A session of the same class at the same start under another id (e.g. the demo's) counts.
    """
    if end_date < start_date:
        raise SessionError("The last day must be on or after the first day.")
    days = (end_date - start_date).days + 1
    if days > app.settings.max_session_days:
        raise SessionError(f"Create at most {app.settings.max_session_days} days of sessions at once; "
                           f"this range has {days}.")
    tz = app.settings.tz
    lo, hi = day_bounds(start_date, end_date, tz)
    existing = app.db.query(
        "SELECT session_id, class_id, epoch_ms(starts_at) AS starts_ms, epoch_ms(ends_at) AS ends_ms, "
        "late_after_min, status, liveness, once_per_day, qr_needs_face FROM sessions "
        "WHERE starts_at >= ? AND starts_at < ?", [lo, hi])
    by_id = {r["session_id"]: r for r in existing.to_dict("records")}
    taken = {(r["class_id"], int(r["starts_ms"])) for r in by_id.values()}
    schedules = list_schedules(app, class_id).to_dict("records")
    events = []
    for n in range(days):
        day = start_date + timedelta(days=n)
        for sch in schedules:
            weekly = not pd.isna(sch["weekday"])
            if (weekly and int(sch["weekday"]) != day.weekday()) or (
                    not weekly and pd.Timestamp(sch["on_date"]).date() != day):
                continue
            start, end = _clock(sch["start_time"], "Start"), _clock(sch["end_time"], "End")
            starts_ms = to_ms(datetime.combine(day, start, tz))
            ends_ms = to_ms(datetime.combine(day, end, tz))
            session_id = session_id_for(sch["class_id"], day, start)
            payload = {"session_id": session_id, "class_id": sch["class_id"], "starts_at_ms": starts_ms,
                       "ends_at_ms": ends_ms, "late_after_min": int(sch["late_after_min"]),
                       "schedule_id": sch["schedule_id"], "room": _none_if_na(sch["room"])}
            old = by_id.get(session_id)
            if old is not None:
                if old["status"] != "scheduled" or (int(old["ends_ms"]), int(old["late_after_min"])) == (
                        ends_ms, payload["late_after_min"]):
                    continue
                payload.update(liveness=old["liveness"], once_per_day=bool(old["once_per_day"]),
                               qr_needs_face=bool(old["qr_needs_face"]))
            elif (sch["class_id"], starts_ms) in taken:
                continue
            events.append(Event.new("session.scheduled", payload, actor=actor))
            taken.add((sch["class_id"], starts_ms))
    if events:
        app.submit(*events)
    return events


_SESSION_COLUMNS = """
    s.session_id, s.class_id, c.name AS class_name, c.teacher, s.starts_at, s.ends_at, s.late_after_min,
    s.status, s.liveness, s.once_per_day, s.qr_needs_face, s.started_at, s.started_by, s.ended_at
"""


def get_session(app: Rollcall, session_id: str) -> dict:
    df = app.db.query(f"SELECT {_SESSION_COLUMNS} FROM sessions s LEFT JOIN classes c USING (class_id) "
                      "WHERE s.session_id = ?", [session_id])
    if df.empty:
        raise SessionError(f"No session {session_id!r}.")
    return {k: _none_if_na(v) for k, v in df.iloc[0].to_dict().items()}


def todays_sessions(app: Rollcall, day: date | None = None, *, now: datetime | None = None) -> pd.DataFrame:
    """The sessions starting on a local day (today by default), with their state and counts."""
    now = _now(now)
    day = day or local_day(now, app.settings.tz)
    lo, hi = day_bounds(day, day, app.settings.tz)
    df = app.db.query(
        f"""
        WITH counts AS (
            SELECT session_id, count(*) FILTER (WHERE status = 'present') AS present,
                   count(*) FILTER (WHERE status = 'late') AS late,
                   count(*) FILTER (WHERE status = 'excused') AS excused,
                   count(*) FILTER (WHERE status = 'absent') AS absent
            FROM attendance
            WHERE session_id IN (SELECT session_id FROM sessions WHERE starts_at >= $lo AND starts_at < $hi)
            GROUP BY session_id)
        SELECT {_SESSION_COLUMNS},
               (SELECT count(*) FROM class_members m WHERE m.class_id = s.class_id) AS expected,
               coalesce(n.present, 0) AS present, coalesce(n.late, 0) AS late,
               coalesce(n.excused, 0) AS excused, coalesce(n.absent, 0) AS absent
        FROM sessions s LEFT JOIN classes c USING (class_id) LEFT JOIN counts n USING (session_id)
        WHERE s.starts_at >= $lo AND s.starts_at < $hi
        ORDER BY s.starts_at, c.name COLLATE th, s.session_id
        """,
        {"lo": lo, "hi": hi},
    )
    df.insert(4, "state", [session_state(r, now) for r in df.to_dict("records")])
    return df


def start_session(app: Rollcall, session_id: str, actor: str, *, liveness: str = "off", once_per_day: bool = False,
                  qr_needs_face: bool = False, late_after_min: int | None = None,
                  now: datetime | None = None) -> None:
    """Set up and start a session (starting an active one again changes only its setup)."""
    session = get_session(app, session_id)
    if session["status"] == "ended":
        raise SessionError("Attendance for this session has ended; it cannot be started again.")
    if _now(now) > session["ends_at"]:
        raise SessionError(f"This session's time is over (it closed at {session['ends_at']:%H:%M}); "
                           "it cannot be started.")
    if liveness not in LIVENESS:
        raise SessionError(f"Unknown liveness check {liveness!r}: choose {' or '.join(LIVENESS)}.")
    late = int(session["late_after_min"] if late_after_min is None else late_after_min)
    length = int((session["ends_at"] - session["starts_at"]) / timedelta(minutes=1))
    if not 0 <= late <= length:
        raise SessionError(f"The late threshold must be between 0 and {length} minutes (the session's length); "
                           f"got {late}.")
    app.submit(Event.new("session.started", {
        "session_id": session_id, "liveness": liveness, "once_per_day": bool(once_per_day),
        "qr_needs_face": bool(qr_needs_face), "late_after_min": late}, actor=actor))


def end_session(app: Rollcall, session_id: str, actor: str) -> None:
    """End attendance now, even before the window closes; nothing more is recorded by check-in."""
    if get_session(app, session_id)["status"] == "ended":
        raise SessionError("This session has already ended.")
    app.submit(Event.new("session.ended", {"session_id": session_id}, actor=actor))


def session_roster(app: Rollcall, session_id: str, *, now: datetime | None = None) -> pd.DataFrame:
    """Every member (and anyone else with a record) with their status: a record's status, else "absent" once the
    session is over or "not yet" before."""
    session = get_session(app, session_id)
    df = app.db.query(
        """
        WITH who AS (SELECT student_id FROM class_members WHERE class_id = $class
                     UNION SELECT student_id FROM attendance WHERE session_id = $session)
        SELECT w.student_id, p.name, p.name_en, a.status, a.checked_at, a.method, a.score, a.corrected_by,
               a.correction_reason, m.student_id IS NOT NULL AS member
        FROM who w LEFT JOIN people p USING (student_id)
        LEFT JOIN class_members m ON m.class_id = $class AND m.student_id = w.student_id
        LEFT JOIN attendance a ON a.session_id = $session AND a.student_id = w.student_id
        ORDER BY p.name IS NULL, {order}, w.student_id
        """.replace("{order}", sort_sql("p.name")),
        {"class": session["class_id"], "session": session_id},
    )
    missing = "absent" if session_state(session, now) == "ended" else "not yet"
    df["status"] = df["status"].fillna(missing)
    return df


def correct_record(app: Rollcall, session_id: str, student_id: str, status: str, reason: str, actor: str) -> None:
    """Set a person's record for a session by hand (creating it if none); audited with the reason."""
    if status not in CORRECTION_STATUSES:
        raise SessionError(f"Unknown status {status!r}: choose {', '.join(CORRECTION_STATUSES)}.")
    if not (reason or "").strip():
        raise SessionError("Give a reason for the correction (it is kept in the audit trail).")
    get_session(app, session_id)
    if app.db.scalar("SELECT count(*) FROM people WHERE student_id = ?", [student_id]) == 0:
        raise SessionError(f"No person with student id {student_id!r}.")
    app.submit(Event.new("attendance.corrected", {"session_id": session_id, "student_id": student_id,
                                                  "status": status, "reason": reason.strip()},
                         actor=actor))


def already_attended_today(app: Rollcall, student_id: str, day: date, *, except_session: str | None = None) -> bool:
    """Whether the person was present or late at any session starting on that local day (for once-per-day
    sessions: the check-in page records nobody twice in a day)."""
    lo, hi = day_bounds(day, day, app.settings.tz)
    return bool(app.db.scalar(
        "SELECT count(*) FROM attendance a JOIN sessions s USING (session_id) "
        "WHERE a.student_id = ? AND a.status IN ('present', 'late') AND s.starts_at >= ? AND s.starts_at < ? "
        "AND s.session_id IS DISTINCT FROM ?",
        [student_id, lo, hi, except_session]))
