"""AppTest of the Check-in page. The WebRTC component cannot run here: it is replaced by a stand-in that
hands the page's frame callback to the test, which feeds it real frames (the browser test runs the real one)."""

from __future__ import annotations

import time

import av
import cv2
import pytest

from core.eventlog import Event
from tests.app.conftest import as_user, texts
from tests.checkin.conftest import OBAMA, canvas

PAGE = "pages/checkin.py"


def start_session(session_id: str = "LIVE-1") -> None:
    from pages._ui import get_app

    app = get_app()
    now = int(time.time() * 1000)
    app.submit(Event.new("class.upserted", {"class_id": "LIVE", "name": "Live check-in", "members": [OBAMA]}),
               Event.new("session.scheduled", {"session_id": session_id, "class_id": "LIVE",
                                               "starts_at_ms": now - 60_000, "ends_at_ms": now + 3600_000}),
               Event.new("session.started", {"session_id": session_id, "late_after_min": 10}))


def test_frames_through_the_page_record_the_person_and_show_them(seeded, camera, photos):
    from pages._ui import get_app

    start_session()
    app = get_app()
    app.faces.record_consent(OBAMA, "signed form", "test")
    app.faces.enroll(OBAMA, [(n, (photos / n).read_bytes()) for n in ("obama.jpg", "obama3.jpg")], "test")
    at = as_user(PAGE, "op").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="checkin_session").value == "LIVE-1"  # the open session is picked
    assert camera["rtc_configuration"] == {"iceServers": []}  # no STUN unless configured
    frame = av.VideoFrame.from_ndarray(canvas(cv2.imread(str(photos / "obama2.jpg"))), format="bgr24")
    live = at.session_state["checkin_live"]
    for _ in range(100):  # recognition runs beside the video: feed frames until the record is made
        out = camera["video_frame_callback"](frame)
        if live.health.recorded:
            break
        time.sleep(0.03)
    assert out.to_ndarray(format="bgr24").shape == (480, 640, 3)
    live.close()  # flush its writer
    at.run()
    html = " ".join(m.value for m in at.markdown)
    assert f"data-student='{OBAMA}'" in html and "present" in html
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["In view now"] == "1" and metrics["This session"] == "1"
    assert app.db.scalar("SELECT method FROM attendance WHERE session_id = 'LIVE-1'") == "face"


def test_end_attendance_asks_then_closes_the_session(seeded, camera):
    from pages._ui import get_app

    start_session()
    at = as_user(PAGE, "op").run()
    next(b for b in at.button if b.label == "End attendance").click().run()
    assert any("End attendance for this session?" in w for w in texts(at, "warning"))
    next(b for b in at.button if b.label == "Yes, end it").click().run()
    assert not at.exception, at.exception
    assert get_app().db.scalar("SELECT status FROM sessions WHERE session_id = 'LIVE-1'") == "ended"
    assert not any(b.label == "End attendance" for b in at.button)


@pytest.mark.parametrize("username", ["vi", "stu"])
def test_viewers_and_students_may_not_take_attendance(seeded, camera, username):
    at = as_user(PAGE, username).run()
    assert not camera, "the camera must not start for a refused user"
    assert at.error or at.warning


def test_the_page_says_when_the_box_is_overloaded(seeded, camera):
    """The processor's timing is driven by the test (its clock injected): frames of 120 ms, back to back."""
    start_session()
    at = as_user(PAGE, "op").run()
    assert not any("overloaded" in w for w in texts(at, "warning"))
    live = at.session_state["checkin_live"]
    now = [100.0]
    live.load.clock = lambda: now[0]
    for _ in range(25):
        live.load.frame(now[0], now[0] + 0.12)
        now[0] += 0.12
    at.run()
    assert not at.exception, at.exception
    [warning] = [w for w in texts(at, "warning") if "overloaded" in w]
    assert "8 frames a second are checked (check-in needs 15)" in warning and "stop a camera" in warning
    for _ in range(75):  # the other job ended: 10 ms a frame at the camera's 25 fps
        live.load.frame(now[0], now[0] + 0.01)
        now[0] += 0.04
    at.run()
    assert not any("overloaded" in w for w in texts(at, "warning"))
    live.close()
