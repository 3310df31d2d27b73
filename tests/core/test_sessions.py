"""Classes, schedules and sessions through the event log: generation, start / end, the late rule, corrections."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from core import audit, sessions
from core.attendance import attendance_event
from core.demo import load_demo
from core.session_rules import session_gate
from core.sessions import SessionError
from tests.core.test_ingestor import snapshot

MONDAY = date(2026, 11, 23)
MEMBERS = ["6501001", "6501002", "6501003"]


@pytest.fixture
def demo(app):
    load_demo(app, today=MONDAY)
    sessions.upsert_class(app, "op", "ENG101", "ภาษาอังกฤษ 1 (English 1)", department="ศึกษาทั่วไป",
                          teacher="Ms. Kim", members=MEMBERS)
    return app


def at(app, day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), app.settings.tz)


def weekly_and_dated(app) -> None:
    sessions.add_schedule(app, "op", "ENG101", weekday=0, start_time="10:00", end_time="11:30", late_after_min=15,
                          room="B-201")
    sessions.add_schedule(app, "op", "ENG101", on_date=MONDAY + timedelta(days=2), start_time=time(14, 0),
                          end_time=time(15, 0))


def test_classes_list_members_and_replace_membership(demo):
    listed = demo.db.query("SELECT * FROM classes WHERE class_id = 'ENG101'")
    assert listed.iloc[0]["teacher"] == "Ms. Kim"
    row = sessions.list_classes(demo).set_index("class_id").loc["ENG101"]
    assert (row["members"], row["schedules"]) == (3, 0)
    sessions.upsert_class(demo, "op", "ENG101", "English 1", members=["6501003", "6501004", "6501004"])
    assert set(sessions.class_members(demo, "ENG101")["student_id"]) == {"6501003", "6501004"}
    assert demo.db.scalar("SELECT count(*) FROM audit WHERE action = 'class.upserted' AND actor = 'op'") == 2


def test_class_validation_names_unknown_people(demo):
    with pytest.raises(SessionError, match=r"Not on the roster: 9999999, X-1\. Import them"):
        sessions.upsert_class(demo, "op", "ENG102", "English 2", members=["6501001", "9999999", "X-1"])
    with pytest.raises(SessionError, match="without spaces"):
        sessions.upsert_class(demo, "op", "ENG 102", "English 2")
    with pytest.raises(SessionError, match="Give the class a name"):
        sessions.upsert_class(demo, "op", "ENG102", "  ")
    assert sessions.get_class(demo, "ENG102") is None
    assert sessions.parse_ids("6501001, 6501002;6501003\n 6501004 ") == ["6501001", "6501002", "6501003", "6501004"]


def test_schedule_validation(demo):
    with pytest.raises(SessionError, match=r"The end \(09:00\) must be after the start \(10:00\)"):
        sessions.add_schedule(demo, "op", "ENG101", weekday=0, start_time="10:00", end_time="09:00")
    with pytest.raises(SessionError, match="between 0 and 60 minutes"):
        sessions.add_schedule(demo, "op", "ENG101", weekday=0, start_time="10:00", end_time="11:00",
                              late_after_min=61)
    with pytest.raises(SessionError, match="between 0 and 60 minutes"):
        sessions.add_schedule(demo, "op", "ENG101", weekday=0, start_time="10:00", end_time="11:00",
                              late_after_min=-1)
    with pytest.raises(SessionError, match="either a weekday"):
        sessions.add_schedule(demo, "op", "ENG101", weekday=0, on_date=MONDAY, start_time="10:00", end_time="11:00")
    with pytest.raises(SessionError, match="not a time"):
        sessions.add_schedule(demo, "op", "ENG101", weekday=0, start_time="ten", end_time="11:00")
    with pytest.raises(SessionError, match="No class 'NOPE'"):
        sessions.add_schedule(demo, "op", "NOPE", weekday=0, start_time="10:00", end_time="11:00")
    assert sessions.list_schedules(demo, "ENG101").empty


def test_schedules_add_replace_and_remove(demo):
    weekly_and_dated(demo)
    listed = sessions.list_schedules(demo, "ENG101")
    assert list(listed["schedule_id"]) == ["ENG101-mon-1000", "ENG101-2026-11-25-1400"]
    assert list(listed["when"]) == ["every Monday", "2026-11-25"]
    assert listed.iloc[1]["late_after_min"] == demo.settings.default_late_after_min
    # The same class, day and start replaces the schedule.
    sessions.add_schedule(demo, "op", "ENG101", weekday=0, start_time="10:00", end_time="12:00", late_after_min=5)
    assert len(sessions.list_schedules(demo, "ENG101")) == 2
    assert sessions.list_schedules(demo, "ENG101").iloc[0]["late_after_min"] == 5
    sessions.remove_schedule(demo, "op", "ENG101-2026-11-25-1400")
    assert list(sessions.list_schedules(demo, "ENG101")["schedule_id"]) == ["ENG101-mon-1000"]
    with pytest.raises(SessionError, match="No schedule"):
        sessions.remove_schedule(demo, "op", "ENG101-2026-11-25-1400")
    assert demo.db.scalar("SELECT target FROM audit WHERE action = 'schedule.removed'") == "ENG101"


def test_generation_is_idempotent_and_never_resets_a_started_session(demo):
    weekly_and_dated(demo)
    made = sessions.generate_sessions(demo, MONDAY, MONDAY + timedelta(days=13), "op")
    ids = sorted(e.payload["session_id"] for e in made)
    # The demo's own sessions of today (other ids, same class and start) are not doubled.
    assert ids == ["BUS310-2026-11-30-1300", "CPE401-2026-11-30-0900", "ENG101-2026-11-23-1000",
                   "ENG101-2026-11-25-1400", "ENG101-2026-11-30-1000"]
    assert demo.db.scalar("SELECT count(*) FROM sessions WHERE class_id = 'CPE401' AND starts_at = ?",
                          [at(demo, MONDAY, 9)]) == 1
    eng = sessions.get_session(demo, "ENG101-2026-11-23-1000")
    assert (eng["starts_at"], eng["ends_at"], eng["late_after_min"]) == (at(demo, MONDAY, 10),
                                                                          at(demo, MONDAY, 11, 30), 15)
    assert sessions.generate_sessions(demo, MONDAY, MONDAY + timedelta(days=13), "op") == []

    sessions.start_session(demo, "ENG101-2026-11-23-1000", "op", liveness="head_turn", once_per_day=True,
                           now=at(demo, MONDAY, 9, 55))
    sessions.add_schedule(demo, "op", "ENG101", weekday=0, start_time="10:00", end_time="12:00", late_after_min=5)
    again = sessions.generate_sessions(demo, MONDAY, MONDAY + timedelta(days=13), "op")
    assert [e.payload["session_id"] for e in again] == ["ENG101-2026-11-30-1000"]  # the one not yet started
    started = sessions.get_session(demo, "ENG101-2026-11-23-1000")
    assert (started["status"], started["liveness"], started["once_per_day"]) == ("active", "head_turn", True)
    assert (started["ends_at"], started["late_after_min"]) == (at(demo, MONDAY, 11, 30), 15)
    later = sessions.get_session(demo, "ENG101-2026-11-30-1000")
    assert (later["status"], later["ends_at"], later["late_after_min"]) == (
        "scheduled", at(demo, MONDAY + timedelta(days=7), 12), 5)

    sessions.end_session(demo, "ENG101-2026-11-23-1000", "op")
    assert sessions.generate_sessions(demo, MONDAY, MONDAY, "op") == []
    assert sessions.get_session(demo, "ENG101-2026-11-23-1000")["status"] == "ended"
    before = snapshot(demo)
    demo.ingestor.rebuild()
    assert snapshot(demo) == before


def test_generation_range_is_checked(demo):
    with pytest.raises(SessionError, match="on or after the first day"):
        sessions.generate_sessions(demo, MONDAY, MONDAY - timedelta(days=1), "op")
    with pytest.raises(SessionError, match="at most 366 days"):
        sessions.generate_sessions(demo, MONDAY, MONDAY + timedelta(days=400), "op")


def test_states_through_the_day(demo):
    sid = "CPE401-2026-11-23"  # the demo's session, 09:00-12:00

    def state(hh, mm=0):
        day = sessions.todays_sessions(demo, MONDAY, now=at(demo, MONDAY, hh, mm)).set_index("session_id")
        return day.loc[sid, "state"]

    assert state(8, 59) == "upcoming"
    assert state(9, 5) == "open"
    assert state(12, 1) == "ended"  # nobody ended it, but its window is over
    sessions.start_session(demo, sid, "op", now=at(demo, MONDAY, 8, 50))  # started early: allowed
    assert state(8, 59) == "active" and state(11, 59) == "active" and state(12, 1) == "ended"
    demo.submit(attendance_event(sid, "6501001", "late", int(at(demo, MONDAY, 9, 20).timestamp() * 1000), "face",
                                 "camera"))
    row = sessions.todays_sessions(demo, MONDAY, now=at(demo, MONDAY, 9, 30)).set_index("session_id").loc[sid]
    assert (row["late"], row["present"], row["expected"]) == (1, 0, 20)
    assert state(9, 30) == "active"
    sessions.end_session(demo, sid, "op")
    assert state(9, 31) == "ended"


def test_start_and_end_rules(demo):
    sid = "CPE401-2026-11-23"
    with pytest.raises(SessionError, match=r"time is over \(it closed at 12:00\)"):
        sessions.start_session(demo, sid, "op", now=at(demo, MONDAY, 12, 1))
    with pytest.raises(SessionError, match="Unknown liveness check 'nod'"):
        sessions.start_session(demo, sid, "op", liveness="nod", now=at(demo, MONDAY, 9))
    with pytest.raises(SessionError, match="between 0 and 180 minutes"):
        sessions.start_session(demo, sid, "op", late_after_min=181, now=at(demo, MONDAY, 9))
    with pytest.raises(SessionError, match="No session 'nope'"):
        sessions.start_session(demo, "nope", "op")
    assert sessions.get_session(demo, sid)["status"] == "scheduled"

    sessions.start_session(demo, sid, "op", liveness="head_turn", qr_needs_face=True, late_after_min=5,
                           now=at(demo, MONDAY, 9))
    started = sessions.get_session(demo, sid)
    assert (started["status"], started["liveness"], started["qr_needs_face"], started["late_after_min"],
            started["started_by"]) == ("active", "head_turn", True, 5, "op")
    # Starting again only changes the setup.
    sessions.start_session(demo, sid, "boss", liveness="off", now=at(demo, MONDAY, 9, 10))
    again = sessions.get_session(demo, sid)
    assert (again["liveness"], again["late_after_min"], again["started_by"]) == ("off", 5, "op")

    sessions.end_session(demo, sid, "op")
    assert sessions.get_session(demo, sid)["status"] == "ended"
    with pytest.raises(SessionError, match="already ended"):
        sessions.end_session(demo, sid, "op")
    with pytest.raises(SessionError, match="has ended; it cannot be started again"):
        sessions.start_session(demo, sid, "op", now=at(demo, MONDAY, 9, 30))
    actions = list(audit.search(demo, start=date.today() - timedelta(days=1), end=date.today() + timedelta(days=1),
                                text=sid)["action"])
    assert actions.count("Started attendance") == 2 and actions.count("Ended attendance") == 1


def test_late_rule_through_session_gate(demo):
    sid = "CPE401-2026-11-23"

    def gate(hh, mm, **kw):
        return session_gate(sessions.get_session(demo, sid), at(demo, MONDAY, hh, mm), **kw)

    assert gate(9, 3, must_be_started=True) == (None, "the session has not been started")
    sessions.start_session(demo, sid, "op", late_after_min=5, now=at(demo, MONDAY, 8, 55))
    assert gate(8, 59, must_be_started=True) == (None, "the session opens at 09:00")
    assert gate(9, 5, must_be_started=True) == ("present", "")
    assert gate(9, 6, must_be_started=True) == ("late", "")
    assert gate(12, 1, must_be_started=True) == (None, "the session closed at 12:00")
    sessions.end_session(demo, sid, "op")
    assert gate(9, 30, must_be_started=True) == (None, "attendance has ended")


def test_correction_creates_or_changes_a_record_and_is_audited(demo):
    sid = "CPE401-2026-11-23"
    member = sessions.session_roster(demo, sid, now=at(demo, MONDAY, 9)).iloc[0]["student_id"]
    with pytest.raises(SessionError, match="Give a reason"):
        sessions.correct_record(demo, sid, member, "present", "   ", "op")
    with pytest.raises(SessionError, match="Unknown status 'here'"):
        sessions.correct_record(demo, sid, member, "here", "x", "op")
    with pytest.raises(SessionError, match="No person with student id '9999999'"):
        sessions.correct_record(demo, sid, "9999999", "present", "x", "op")
    with pytest.raises(SessionError, match="No session"):
        sessions.correct_record(demo, "nope", member, "present", "x", "op")
    assert demo.db.scalar("SELECT count(*) FROM attendance WHERE session_id = ?", [sid]) == 0

    sessions.correct_record(demo, sid, member, "present", "  camera was down  ", "op")
    roster = sessions.session_roster(demo, sid, now=at(demo, MONDAY, 9, 30)).set_index("student_id")
    assert (roster.loc[member, "status"], roster.loc[member, "method"], roster.loc[member, "corrected_by"],
            roster.loc[member, "correction_reason"]) == ("present", "manual", "op", "camera was down")
    assert set(roster.drop(member)["status"]) == {"not yet"}

    other = roster.index[1]
    demo.submit(attendance_event(sid, other, "late", int(at(demo, MONDAY, 9, 40).timestamp() * 1000), "face", "cam",
                                 score=0.71))
    sessions.correct_record(demo, sid, other, "excused", "doctor's note", "boss")
    row = sessions.session_roster(demo, sid, now=at(demo, MONDAY, 13)).set_index("student_id")
    assert (row.loc[other, "status"], row.loc[other, "method"], row.loc[other, "score"]) == ("excused", "face", 0.71)
    assert row.drop([member, other])["status"].eq("absent").all()  # the session is over: no record is absent
    # A later sighting does not undo a correction.
    demo.submit(attendance_event(sid, member, "late", int(at(demo, MONDAY, 9, 50).timestamp() * 1000), "face", "c"))
    assert demo.db.scalar("SELECT status FROM attendance WHERE session_id = ? AND student_id = ?",
                          [sid, member]) == "present"

    trail = demo.db.query("SELECT actor, target, reason, detail FROM audit WHERE action = 'attendance.corrected' "
                          "ORDER BY at_time")
    assert list(trail["reason"]) == ["camera was down", "doctor's note"]
    assert list(trail["actor"]) == ["op", "boss"] and list(trail["target"]) == [member, other]
    assert '"status":"excused"' in trail.iloc[1]["detail"] and sid in trail.iloc[1]["detail"]
    shown = audit.search(demo, start=date.today() - timedelta(days=1), end=date.today() + timedelta(days=1),
                         action="attendance.corrected")
    assert set(shown["action"]) == {"Corrected attendance"} and "doctor's note" in set(shown["reason"])
    assert f"session id: {sid} · student id: {other} · status: excused" in set(shown["detail"])

    # A person outside the class can be recorded too, and then shows on the roster.
    outsider = demo.db.scalar("SELECT student_id FROM people WHERE student_id NOT IN "
                              "(SELECT student_id FROM class_members WHERE class_id = 'CPE401') LIMIT 1")
    sessions.correct_record(demo, sid, outsider, "present", "guest from BUS310", "op")
    guest = sessions.session_roster(demo, sid).set_index("student_id").loc[outsider]
    assert guest["status"] == "present" and not guest["member"]


def test_once_per_day_query(demo):
    first, second = "CPE401-2026-11-23", "BUS310-2026-11-23"
    assert not sessions.already_attended_today(demo, "6501001", MONDAY)
    demo.submit(attendance_event(first, "6501001", "present", int(at(demo, MONDAY, 9, 2).timestamp() * 1000), "face",
                                 "cam"))
    assert sessions.already_attended_today(demo, "6501001", MONDAY)
    assert sessions.already_attended_today(demo, "6501001", MONDAY, except_session=second)
    assert not sessions.already_attended_today(demo, "6501001", MONDAY, except_session=first)
    assert not sessions.already_attended_today(demo, "6501001", MONDAY + timedelta(days=1))
    assert not sessions.already_attended_today(demo, "6501002", MONDAY)
    sessions.correct_record(demo, first, "6501002", "absent", "left early", "op")
    assert not sessions.already_attended_today(demo, "6501002", MONDAY)  # an absence is not attendance
