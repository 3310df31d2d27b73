"""A camera frame the frame worker cannot process is recorded as failed and skipped (issue #12).

Frames are appended to the real event log as the receiver stores them; the worker then runs the real models.
One bad frame used to raise on every tick, so the worker's position never moved and no later frame was looked at.
"""

from __future__ import annotations

import base64
import struct
import time
from datetime import date

import pytest

from core.demo import load_demo
from core.eventlog import Event
from core.faces.frames import FrameWorker
from tests.faces.conftest import read

YEAR_287396_MS = 2**53  # the largest capture time the receiver's path once allowed: the year 287396
# A complete JPEG of a few bytes whose frame header declares 20000×20000 (see tests/test_bad_input.py).
HUGE_SOF_JPEG = (b"\xff\xd8\xff\xc0" + struct.pack(">HBHHB", 17, 8, 20_000, 20_000, 3)
                 + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01" + b"\xff\xd9")


def frame(seq: int, jpeg: bytes | None, captured_ms: int, **payload) -> Event:
    """A `frame.captured` event as the receiver appends it for an ESP32-CAM."""
    body = {"device_id": "cam-1", "boot_id": "b1", "seq": seq, "received_ms": int(time.time() * 1000)}
    if jpeg is not None:
        body["jpeg_b64"] = base64.b64encode(jpeg).decode()
    return Event(id=f"cam-1:b1:{seq}", kind="frame.captured", ts_ms=captured_ms, actor="cam-1", source="device",
                 payload={**body, **payload})


@pytest.fixture
def camera_app(app, photos):
    load_demo(app, today=date(2026, 11, 22))
    member = app.db.scalar("SELECT min(student_id) FROM class_members WHERE class_id = 'CPE401'")
    now = int(time.time() * 1000)
    app.submit(Event.new("session.scheduled", {"session_id": "cam-1", "class_id": "CPE401",
                                               "starts_at_ms": now - 5 * 60_000, "ends_at_ms": now + 3600_000,
                                               "late_after_min": 10}, actor="test"),
               Event.new("session.started", {"session_id": "cam-1", "late_after_min": 10}, actor="test"))
    app.faces.record_consent(member, "signed form", "test")
    assert app.faces.enroll(member, [read(photos, "obama.jpg")], "test")[0].accepted
    return app, member


def processed(app) -> dict[str, dict]:
    return {s.event.payload["frame_id"]: s.event.payload for s in app.log.read_after(0, 100_000)
            if s.event.kind == "frame.processed"}


def test_frames_the_worker_cannot_process_are_recorded_as_failed_and_the_next_one_checks_in(camera_app, photos):
    app, member = camera_app
    now = int(time.time() * 1000)
    known = (photos / "obama2.jpg").read_bytes()
    bad = [
        frame(1, known, YEAR_287396_MS),  # a known face at a capture time no clock can hold
        frame(2, known, -(2**53)),  # before the year 1
        frame(3, b"\xff\xd8\xff\xe0" + b"\x00" * 500 + b"\xff\xd9", now),  # a corrupt JPEG
        frame(4, None, now, jpeg_b64=12345),  # the image is not even text
        frame(5, None, now),  # no image at all
        frame(6, known, now, device_id={"not": "an id"}),  # a payload of the wrong shape
        frame(7, HUGE_SOF_JPEG, now),  # declares 20000×20000: refused before decoding
        frame(8, None, now, jpeg_b64="not base64!"),
    ]
    app.log.append(bad)
    worker = FrameWorker(app)
    assert worker.process_pending() == len(bad)  # no exception: each bad frame is looked at once, then skipped
    good = frame(9, (photos / "obama3.jpg").read_bytes(), now)
    app.log.append([good])
    assert worker.process_pending() == 1
    assert worker.process_pending() == 0 and worker.cursor() == app.log.head()
    # The good frame after them still becomes a check-in.
    rows = app.db.query("SELECT student_id, method FROM attendance WHERE session_id = 'cam-1'")
    assert list(rows["student_id"]) == [member] and rows["method"].iloc[0] == "device-camera"
    # Each bad frame is recorded as processed with the reason it failed.
    results = processed(app)
    for event in bad:
        assert results[event.id].get("error"), (event.id, results[event.id])
    assert "capture time" in results["cam-1:b1:1"]["error"] and "capture time" in results["cam-1:b1:2"]["error"]
    assert "corrupt" in results["cam-1:b1:3"]["error"] and "no image" in results["cam-1:b1:5"]["error"]
    assert "too large" in results["cam-1:b1:7"]["error"] and "base64" in results["cam-1:b1:8"]["error"]
    assert "error" not in results["cam-1:b1:9"] and results["cam-1:b1:9"]["known"] == [member]
    # The Devices page's list shows why (frames whose own fields cannot be folded are the ingestor's errors).
    details = app.db.query("SELECT event_id, detail FROM device_events WHERE kind = 'frame.captured'")
    shown = dict(zip(details["event_id"], details["detail"], strict=True))
    assert "corrupt" in shown["cam-1:b1:3"] and "too large" in shown["cam-1:b1:7"]


def test_a_restarted_worker_does_not_look_at_a_failed_frame_again(camera_app, photos):
    app, _ = camera_app
    app.log.append([frame(1, (photos / "obama2.jpg").read_bytes(), YEAR_287396_MS)])
    FrameWorker(app).process_pending()
    head = app.log.head()
    with app.db.write() as cur:  # a lost cursor (a second instance) derives the same failure: nothing new
        cur.execute("DELETE FROM processor_state")
    assert FrameWorker(app).process_pending() == 1
    assert app.log.head() == head


def test_the_background_worker_keeps_going_past_a_bad_frame(camera_app, photos):
    """The poller thread, as the app runs it: the good frame is checked in although a bad one came first."""
    app, member = camera_app
    now = int(time.time() * 1000)
    app.log.append([frame(1, (photos / "obama2.jpg").read_bytes(), YEAR_287396_MS),
                    frame(2, (photos / "obama3.jpg").read_bytes(), now)])
    worker = FrameWorker(app)
    worker.start(0.05)
    try:
        deadline = time.monotonic() + 60
        while worker.cursor() < app.log.head() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert worker.cursor() == app.log.head()
    assert app.db.scalar("SELECT student_id FROM attendance WHERE session_id = 'cam-1'") == member
