"""AppTest of the check-in kiosk (issue #13): staff lock a device to a session; it shows only the kiosk (no menu,
no sign-out), starts the camera by itself, welcomes each check-in by name with a chime, and staff unlock it with
a password. The WebRTC component is the stand-in of tests/app/conftest.py, fed real frames."""

from __future__ import annotations

import time

import av
import cv2
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_ROOT
from tests.app.conftest import PASSWORDS, as_user, texts
from tests.app.test_checkin_page import start_session
from tests.checkin.conftest import OBAMA, canvas

MAIN = str(PROJECT_ROOT / "streamlit_app.py")


def whole_app(at: AppTest) -> AppTest:
    """A run of the whole app (menu included) with this browser session's sign-in, as after a refresh: AppTest
    runs a page's file alone once it has switched to it."""
    fresh = AppTest.from_file(MAIN, default_timeout=30)
    for key in ("user", "session_token", "last_activity"):
        fresh.session_state[key] = at.session_state[key]
    fresh.run()
    assert not fresh.exception, fresh.exception
    return fresh


def sidebar_buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.sidebar.button]


def test_a_locked_kiosk_welcomes_each_check_in_and_staff_unlock_it(seeded, camera, photos):
    from pages._ui import get_app

    start_session()
    app = get_app()
    app.faces.record_consent(OBAMA, "signed form", "test")
    app.faces.enroll(OBAMA, [(n, (photos / n).read_bytes()) for n in ("obama.jpg", "obama3.jpg")], "test")
    at = as_user(MAIN, "op").run()
    at.switch_page("pages/kiosk.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="kiosk_pick").value == "LIVE-1"
    at.button(key="kiosk_lock").click().run()
    assert not at.exception, at.exception
    assert at.session_state["session_token"].kiosk == "LIVE-1"
    assert camera["desired_playing_state"] is True  # the camera starts by itself
    assert any("Hold your QR card" in m.value for m in at.markdown)  # the fallback, on screen
    assert any(">Look at the camera</div>" in m.value for m in at.markdown)  # no liveness check: just look

    frame = av.VideoFrame.from_ndarray(canvas(cv2.imread(str(photos / "obama2.jpg"))), format="bgr24")
    live = at.session_state["kiosk_live"]
    for _ in range(100):  # recognition runs beside the video: feed frames until the record is made
        camera["video_frame_callback"](frame)
        if live.health.recorded:
            break
        time.sleep(0.03)
    live.close()
    at.run()
    welcome = [m.value for m in at.markdown if "rc-welcome" in m.value]
    assert len(welcome) == 1 and "✓ Welcome, " in welcome[0] and f"data-student='{OBAMA}'" in welcome[0]
    assert len(at.get("audio")) == 1  # the chime, in a container of this welcome's own (kiosk_chime_1)
    at.run()
    assert at.session_state["kiosk_welcomes"] == 1  # the same check-in: no second welcome, no second chime
    app_now = whole_app(at)
    assert sidebar_buttons(app_now) == [] and not app_now.sidebar.markdown  # no menu, no sign-out: the kiosk only
    assert any(m.value.endswith("· check-in") for m in app_now.markdown)
    app_now.session_state["kiosk_live"].close()

    # Staff unlock: a wrong password is refused (and counted like a sign-in); the right one ends the kiosk.
    at.text_input(key="kiosk_unlock_user").input("op")
    at.text_input(key="kiosk_unlock_password").input("not-the-password")
    next(b for b in at.button if b.label == "Unlock").click().run()
    assert texts(at, "error") and at.session_state["session_token"].kiosk == "LIVE-1"
    at.text_input(key="kiosk_unlock_user").input("op")
    at.text_input(key="kiosk_unlock_password").input(PASSWORDS["op"])
    next(b for b in at.button if b.label == "Unlock").click().run()
    assert not at.exception, at.exception
    assert at.session_state["session_token"].kiosk is None
    assert "Sign out" in sidebar_buttons(whole_app(at))  # a staff session again, with its menu
