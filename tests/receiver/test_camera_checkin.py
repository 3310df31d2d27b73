"""An ESP32-CAM frame, posted through the real receiver, becomes a check-in in the app."""

from __future__ import annotations

import time
from datetime import date

from core.config import Settings
from core.demo import load_demo
from core.eventlog import Event
from core.faces.frames import FrameWorker
from core.runtime import open_app
from receiver.simulate import SimulatedDevice
from tests.faces.conftest import read
from tests.photos import strangers


def test_a_camera_frame_checks_the_person_in_once(live, photos):
    r, _ = live
    cam_secret = r.add_device("cam-1")
    app = open_app(Settings(data_dir=r.data_dir), workers=False)
    try:
        load_demo(app, today=date(2026, 11, 22))
        member = app.db.scalar("SELECT min(student_id) FROM class_members WHERE class_id = 'CPE401'")
        now = int(time.time() * 1000)
        app.submit(Event.new("session.scheduled", {"session_id": "live-1", "class_id": "CPE401",
                                                   "starts_at_ms": now - 15 * 60_000, "ends_at_ms": now + 3600_000,
                                                   "late_after_min": 10}, actor="test"))
        app.faces.record_consent(member, "signed form", "test")
        assert app.faces.enroll(member, [read(photos, "obama.jpg")], "test")[0].accepted
        cam = SimulatedDevice(r.url, "cam-1", cam_secret)
        # The same rule as the webcam: nothing counts before staff start the session, and a frame dated two hours
        # ahead (a camera clock running fast) counts as seen when it arrived, not in a session not yet open.
        assert cam.frame((photos / "obama2.jpg").read_bytes()).json()["accepted"] == 1
        assert FrameWorker(app).process_pending() == 1
        assert app.db.scalar("SELECT count(*) FROM attendance WHERE session_id = 'live-1'") == 0
        app.submit(Event.new("session.scheduled", {"session_id": "later", "class_id": "CPE401",
                                                   "starts_at_ms": now + 7000_000, "ends_at_ms": now + 9000_000,
                                                   "late_after_min": 10}, actor="test"),
                   Event.new("session.started", {"session_id": "later", "late_after_min": 10}, actor="test"),
                   Event.new("session.started", {"session_id": "live-1", "late_after_min": 10}, actor="test"))
        assert cam.frame((photos / "obama3.jpg").read_bytes(), captured_ms=now + 7200_000).status_code == 200
        assert FrameWorker(app).process_pending() == 1
        assert app.db.scalar("SELECT count(*) FROM attendance WHERE session_id = 'later'") == 0

        for photo in ("obama2.jpg", "obama3.jpg"):
            assert cam.frame((photos / photo).read_bytes()).json()["accepted"] == 1
        assert cam.frame(strangers()[0].read_bytes()).status_code == 200

        worker = FrameWorker(app)
        assert worker.process_pending() == 3
        assert worker.process_pending() == 0  # the cursor moved: nothing twice
        rows = app.db.query("SELECT * FROM attendance WHERE session_id = 'live-1'")
        assert list(rows["student_id"]) == [member]  # one record for two sightings
        assert rows["method"].iloc[0] == "device-camera" and rows["status"].iloc[0] == "late"
        unknown = [s.event for s in app.log.read_after(0, 10_000) if s.event.kind == "face.unknown_seen"]
        assert len(unknown) >= 1 and unknown[0].payload["device_id"] == "cam-1"
        details = app.db.query("SELECT detail FROM device_events WHERE kind = 'frame.captured'")["detail"]
        assert any(f"known: {member}" in d for d in details)
        # A second app instance (or a restart with a lost cursor) derives the same events: no change.
        head = app.log.head()
        with app.db.write() as cur:
            cur.execute("DELETE FROM processor_state")
        FrameWorker(app).process_pending()
        assert app.log.head() == head
    finally:
        app.close()
