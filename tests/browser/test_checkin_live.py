"""Live check-in in a real browser: headless Chromium's fake webcam plays a clip made from real photos
(an enrolled person beside a stranger) over WebRTC to the app, which recognises, records and alerts.

One app, one clip, three sessions of the same class, in this order: ended from the page → nothing
recorded; head-turn liveness on → the still photo checks no one in; plain → the enrolled person is
recorded (in DuckDB and on the page) and the stranger's photo reaches the local Telegram fake.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from pathlib import Path

import cv2
import duckdb
import numpy as np
import pytest

from core import auth
from core.config import Settings
from core.eventlog import Event
from core.runtime import open_app
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS, bootstrap, serve_app
from tests.browser.test_smoke import settle, sign_in
from tests.checkin.conftest import OBAMA, STRANGER, canvas
from tests.telegram_fake import TelegramFake

pytestmark = pytest.mark.browser
TOKEN, CHAT = "777:e2e", "-100777"
SESSIONS = {"S-END": 7, "S-LIVE": 6, "S-MAIN": 5}  # session id → started this many minutes ago (distinct labels)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 15) -> None:
    """A raw YUV4MPEG2 (I420) clip, what Chromium's fake capture device plays in a loop."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        out.writelines(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes() for frame in frames)


def make_clip(photos: Path, path: Path) -> None:
    still = canvas(cv2.imread(str(photos / "obama2.jpg")), cv2.imread(str(photos / STRANGER)))
    rng = np.random.default_rng(7)
    frames = [np.clip(still.astype(np.int16) + rng.integers(-3, 4, still.shape), 0, 255).astype(np.uint8)
              for _ in range(30)]  # sensor noise: every frame differs, as from a camera
    write_y4m(path, frames)


def event(kind: str, payload: dict) -> Event:
    return Event.new(kind, payload, actor="test")


@pytest.fixture(scope="module")
def checkin_app(tmp_path_factory, photos):
    root = tmp_path_factory.mktemp("checkin")
    telegram = TelegramFake(token=TOKEN).start()
    env = {**os.environ, "ROLLCALL_DATA_DIR": str(root / "data"), "ROLLCALL_TELEGRAM_BOT_TOKEN": TOKEN,
           "ROLLCALL_TELEGRAM_CHAT_ID": CHAT, "ROLLCALL_TELEGRAM_API_BASE": telegram.url}
    bootstrap(root / "data", env)
    # Enrol before the app starts (enrolment needs the store; the app then owns it).
    app = open_app(Settings(data_dir=root / "data"), workers=False)
    app.faces.record_consent(OBAMA, "signed form", "test")
    assert all(v.accepted for v in app.faces.enroll(OBAMA, [(n, (photos / n).read_bytes())
                                                            for n in ("obama.jpg", "obama3.jpg")], "test"))
    now_ms = int(time.time() * 1000)
    events = [event("class.upserted", {"class_id": "LIVE", "name": "Live check-in", "members": [OBAMA]}),
              event("user.created", {"username": "teacher", "role": "operator", "must_change": False,
                                     "password_hash": auth.hash_password("teacher-e2e-pw")})]
    for session_id, minutes_ago in SESSIONS.items():
        starts = now_ms - minutes_ago * 60_000
        events += [event("session.scheduled", {"session_id": session_id, "class_id": "LIVE", "starts_at_ms": starts,
                                               "ends_at_ms": starts + 3600_000, "late_after_min": 10}),
                   event("session.started", {"session_id": session_id, "late_after_min": 10,
                                             "liveness": "head_turn" if session_id == "S-LIVE" else "off"})]
    app.submit(*events)
    app.close()
    clip = root / "clip.y4m"
    make_clip(photos, clip)
    tz = Settings().tz  # the session picker shows the app's local time
    labels = {sid: f"Live check-in · {datetime.fromtimestamp(now_ms / 1000 - minutes * 60, tz):%H:%M}"
              for sid, minutes in SESSIONS.items()}
    with serve_app(env, root / "streamlit.log") as url:
        yield {"url": url, "data_dir": root / "data", "clip": clip, "telegram": telegram, "labels": labels}
    telegram.stop()


@pytest.fixture
def camera_page(pw, checkin_app):
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={checkin_app['clip']}", "--disable-features=WebRtcHideLocalIpsWithMdns"])
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="th-TH")
    yield context.new_page()
    browser.close()


def pick_session(page, label: str) -> None:
    page.get_by_role("combobox", name="Session").click()
    page.get_by_role("option", name=label).click()
    settle(page)


def checkins(page) -> list[str]:
    return [e.get_attribute("data-student") for e in page.locator("[data-testid='rc-checkin']").all()]


def test_webcam_check_in_end_to_end(checkin_app, camera_page, screenshots):
    page = camera_page
    sign_in(page, checkin_app["url"], "teacher", "teacher-e2e-pw")
    page.locator("[data-testid='stSidebarNav']").get_by_text("Check-in", exact=True).click()
    page.get_by_role("heading", name="Check-in").wait_for(timeout=30_000)
    settle(page)

    # 1. End attendance from the page, then show the camera: nothing is recorded for that session.
    pick_session(page, checkin_app["labels"]["S-END"])
    page.get_by_role("button", name="End attendance").click()
    settle(page)  # a person reads the question before answering it
    page.get_by_role("button", name="Yes, end it").click()
    settle(page)
    page.get_by_text("ENDED", exact=True).wait_for(timeout=10_000)
    assert page.get_by_role("combobox", name="Session").input_value().startswith(checkin_app["labels"]["S-END"])
    page.frame_locator("iframe[title*='webrtc_streamer']").get_by_role("button", name="START").click()
    page.wait_for_function("() => document.querySelector(\"[data-testid='rc-health']\")?.innerText.includes('live')",
                           timeout=60_000)
    page.wait_for_timeout(4000)
    assert checkins(page) == []
    page.screenshot(path=screenshots / "30-checkin-ended.png", full_page=True)

    # 2. Head-turn liveness: the still photo is recognised but never recorded.
    pick_session(page, checkin_app["labels"]["S-LIVE"])
    page.wait_for_timeout(5000)
    assert checkins(page) == []
    page.screenshot(path=screenshots / "31-checkin-liveness.png", full_page=True)

    # 3. Plain session: recorded, shown with the face crop; the stranger's photo goes to Telegram.
    pick_session(page, checkin_app["labels"]["S-MAIN"])
    page.locator(f"[data-testid='rc-checkin'][data-student='{OBAMA}']").wait_for(timeout=30_000)
    assert checkins(page) == [OBAMA]
    health = page.locator("[data-testid='rc-health']").inner_text()
    page.screenshot(path=screenshots / "32-checkin-recorded.png", full_page=True)
    telegram = checkin_app["telegram"]
    telegram.wait_for_photos(1, timeout=20)
    sent = telegram.photos[0]
    assert sent.chat_id == CHAT and sent.caption.startswith("Unknown face at Live check-in")
    assert cv2.imdecode(np.frombuffer(sent.photo, np.uint8), cv2.IMREAD_COLOR) is not None
    fps = float(re.match(r"\s*(\d+) fps", health).group(1))
    assert fps > 0, health


def test_the_records_are_in_duckdb(checkin_app, tmp_path):
    # The app still holds the file: read a copy (with its write-ahead log).
    for name in ("rollcall.duckdb", "rollcall.duckdb.wal"):
        source = checkin_app["data_dir"] / name
        if source.exists():
            (tmp_path / name).write_bytes(source.read_bytes())
    with duckdb.connect(str(tmp_path / "rollcall.duckdb")) as db:
        rows = db.execute("SELECT session_id, student_id, method, liveness FROM attendance "
                          "WHERE session_id LIKE 'S-%'").fetchall()
        crops = db.execute("SELECT count(*) FROM evidence_crops").fetchone()[0]
        alerts = db.execute("SELECT status FROM alerts").fetchall()
        ended = db.execute("SELECT status FROM sessions WHERE session_id = 'S-END'").fetchone()[0]
    assert rows == [("S-MAIN", OBAMA, "face", "off")]
    assert crops == 1 and ended == "ended"
    assert ("sent",) in alerts
