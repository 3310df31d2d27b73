"""AppTest: the Sessions page — start today's session with a setup, end it, correct a record, classes, schedules."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from core import sessions
from core.config import PROJECT_ROOT
from core.eventlog import Event
from tests.app.conftest import as_user, texts

PAGE = str(PROJECT_ROOT / "pages" / "sessions.py")


def store():
    from pages._ui import get_app  # the handle the page uses (cached per process and data folder)

    return get_app()


@pytest.fixture
def demo_session(seeded) -> str:
    """Today's demo CPE401 session, stretched over the whole local day so the test passes at any hour."""
    app = store()
    today = datetime.now(app.settings.tz).date()
    sid = f"CPE401-{today.isoformat()}"
    day_start = datetime.combine(today, time.min, app.settings.tz)
    app.submit(Event.new("session.scheduled", {
        "session_id": sid, "class_id": "CPE401", "starts_at_ms": int(day_start.timestamp() * 1000),
        "ends_at_ms": int((day_start + timedelta(days=1, seconds=-1)).timestamp() * 1000), "late_after_min": 10},
        actor="test"))
    return sid


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_operator_starts_ends_and_corrects(demo_session):
    sid = demo_session
    at = as_user(PAGE, "op").run()
    assert not at.exception, at.exception
    assert texts(at, "title") == ["Sessions"]
    at.selectbox(key="session_pick").select(sid).run()
    assert button(at, "Start attendance")
    at.radio(key=f"liveness_{sid}").set_value("blink")
    at.number_input(key=f"late_{sid}").set_value(15)
    at.toggle(key=f"once_{sid}").set_value(True)
    at.button(key="session_start").click().run()
    assert not at.exception and not texts(at, "error"), texts(at, "error")
    assert "Attendance started." in texts(at, "success")
    row = store().db.query("SELECT status, liveness, late_after_min, once_per_day, qr_needs_face, started_by "
                           "FROM sessions WHERE session_id = ?", [sid]).iloc[0].to_dict()
    assert row == {"status": "active", "liveness": "blink", "late_after_min": 15, "once_per_day": True,
                   "qr_needs_face": False, "started_by": "op"}
    assert any("Taking attendance since" in i for i in texts(at, "info"))

    # A correction needs a reason; with one it shows on the roster and in the audit trail.
    roster = sessions.session_roster(store(), sid)
    who = roster.iloc[0]["student_id"]
    at.selectbox(key=f"correct_who_{sid}").select(who)
    at.selectbox(key=f"correct_status_{sid}").select("late")
    at.button(key="correct_save").click().run()
    assert any("Give a reason" in e for e in texts(at, "error"))
    at.selectbox(key=f"correct_who_{sid}").select(who)
    at.selectbox(key=f"correct_status_{sid}").select("late")
    at.text_input(key=f"correct_reason_{sid}").input("bus was late, has a note")
    at.button(key="correct_save").click().run()
    assert not texts(at, "error"), texts(at, "error")
    table = next(d.value for d in at.dataframe if "correction_reason" in d.value.columns)
    mine = table.set_index("student_id").loc[who]
    assert (mine["status"], mine["correction_reason"], mine["corrected_by"]) == ("Late", "bus was late, has a note",
                                                                                 "op")
    assert store().db.scalar("SELECT reason FROM audit WHERE action = 'attendance.corrected' AND actor = 'op'") == \
        "bus was late, has a note"

    # End attendance asks first.
    at.button(key="end_attendance").click().run()
    assert any("End attendance for Computer Vision now?" in w for w in texts(at, "warning"))
    assert store().db.scalar("SELECT status FROM sessions WHERE session_id = ?", [sid]) == "active"
    at.button(key="end_cancel").click().run()
    assert store().db.scalar("SELECT status FROM sessions WHERE session_id = ?", [sid]) == "active"
    at.button(key="end_attendance").click().run()
    at.button(key="end_confirm").click().run()
    assert not at.exception, at.exception
    assert "Attendance ended." in texts(at, "success")
    assert store().db.scalar("SELECT status FROM sessions WHERE session_id = ?", [sid]) == "ended"
    assert not [b for b in at.button if b.label == "Start attendance"]  # an ended session cannot be restarted


def test_classes_and_schedules_create_sessions(seeded):
    at = as_user(PAGE, "op").run()
    form = "(new class)"
    at.text_input(key=f"class_id_{form}").input("ENG101")
    at.text_input(key=f"class_name_{form}").input("ภาษาอังกฤษ 1")
    at.multiselect(key=f"class_members_{form}").select("6501001").select("6501002")
    at.text_area(key=f"class_paste_{form}").input("6501003, 9999999")
    at.button(key="class_save").click().run()
    assert any("Not on the roster: 9999999" in e for e in texts(at, "error"))
    assert sessions.get_class(store(), "ENG101") is None
    at.text_area(key=f"class_paste_{form}").input("6501003")
    at.button(key="class_save").click().run()
    assert not texts(at, "error"), texts(at, "error")
    assert set(sessions.class_members(store(), "ENG101")["student_id"]) == {"6501001", "6501002", "6501003"}
    assert at.selectbox(key="class_pick").value == "ENG101"  # the saved class stays open for editing

    today = datetime.now(store().settings.tz).date()
    at.selectbox(key="schedule_class").select("ENG101")
    at.radio(key="schedule_kind").set_value("dated")
    at.date_input(key="schedule_date").set_value(today + timedelta(days=1))
    at.time_input(key="schedule_start").set_value(time(10, 0))
    at.time_input(key="schedule_end").set_value(time(9, 0))
    at.button(key="schedule_save").click().run()
    assert any("must be after the start" in e for e in texts(at, "error"))
    at.time_input(key="schedule_end").set_value(time(11, 0))
    at.button(key="schedule_save").click().run()
    assert not texts(at, "error"), texts(at, "error")
    assert "ENG101-" + (today + timedelta(days=1)).isoformat() + "-1000" in list(
        sessions.list_schedules(store())["schedule_id"])

    at.date_input(key="generate_range").set_value((today, today + timedelta(days=6)))
    at.button(key="generate").click().run()
    assert any("session(s) created" in s for s in texts(at, "success"))
    made = store().db.scalar("SELECT count(*) FROM sessions WHERE class_id = 'ENG101'")
    assert made == 1
    at.button(key="generate").click().run()
    assert "Every session of these days is already on the calendar." in texts(at, "success")


def test_viewer_and_student_are_refused(seeded):
    for username in ("vi", "stu"):
        at = as_user(PAGE, username).run()
        assert "You do not have access to this page." in texts(at, "error")
        assert not at.title
