"""The frame processor with real models, photos and store: what the check-in page does with each frame."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from core.alerts import TelegramClient, UnknownFaceAlerts
from core.ceremonies import qr_text
from core.checkin.live import LiveCheckin
from core.qr import qr_png
from tests.checkin.conftest import BIDEN, OBAMA, OUTSIDER, STRANGER, canvas, event, schedule
from tests.liveness_scenes import blinking, eyes_shut, held_and_turned
from tests.telegram_fake import TelegramFake


def run(live: LiveCheckin, frame: np.ndarray, frames: int, start_ms: int | None = None, step_ms: int = 50):
    start_ms = int(time.time() * 1000) if start_ms is None else start_ms
    out = None
    for n in range(frames):
        out = live.process(frame.copy(), start_ms + n * step_ms)
    live.close()  # waits for the writer: every event is in the log and DuckDB
    return out


def attendance(app, session_id: str):
    return app.db.query("SELECT * FROM attendance WHERE session_id = ? ORDER BY student_id", [session_id])


def test_an_enrolled_member_is_checked_in_once_with_evidence(live_app, picture):
    schedule(live_app, "S1")
    live = LiveCheckin(live_app, "op")
    live.use_session("S1")
    frame = canvas(picture("obama2.jpg"))
    run(live, frame, 12)
    rows = attendance(live_app, "S1")
    assert rows["student_id"].tolist() == [OBAMA]
    row = rows.iloc[0]
    assert (row.status, row.method, row.liveness, row.model) == ("present", "face", "off", "SFace")
    assert row.score >= row.threshold and row.runner_up_gap > 0
    crop = live_app.db.query("SELECT crop_token FROM evidence_crops WHERE session_id = 'S1'")["crop_token"][0]
    jpeg = live_app.keys.decrypt(OBAMA, crop)  # the crop is readable only with the person's key
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (112, 112)
    health, seen, _ = live.snapshot()
    assert health.recorded == 1 and health.known_seen == {OBAMA} and health.peak == 1
    assert [(s.student_id, s.outcome) for s in seen] == [(OBAMA, "present")]


def test_recognising_beside_the_video_gives_the_same_record(live_app, picture):
    schedule(live_app, "S1")
    live = LiveCheckin(live_app, "op", background=True)
    live.use_session("S1")
    frame = canvas(picture("obama2.jpg"), picture(STRANGER))
    for _ in range(200):
        live.process(frame.copy())
        if live.health.recorded and live.health.unknown_tracks:
            break
        time.sleep(0.02)
    live.close()
    assert attendance(live_app, "S1")[["student_id", "method"]].values.tolist() == [[OBAMA, "face"]]
    assert live.health.unknown_tracks == 1


def test_k_of_n_frames_must_agree_before_a_record(live_app, picture):
    schedule(live_app, "S1")
    live = LiveCheckin(live_app, "op", k=3, n=5)
    live.use_session("S1")
    run(live, canvas(picture("obama2.jpg")), 2)
    assert attendance(live_app, "S1").empty
    live = LiveCheckin(live_app, "op", k=3, n=5)
    live.use_session("S1")
    run(live, canvas(picture("obama2.jpg")), 3)
    assert attendance(live_app, "S1")["student_id"].tolist() == [OBAMA]


def test_a_sure_first_recognition_decides_at_once_and_a_stranger_still_waits_for_votes(live_app, picture):
    schedule(live_app, "S1")
    live = LiveCheckin(live_app, "op", k=3, n=5, sure_margin=0.15)
    live.use_session("S1")
    run(live, canvas(picture("obama2.jpg"), picture(STRANGER)), 1)
    assert attendance(live_app, "S1")["student_id"].tolist() == [OBAMA]  # one frame: far above his threshold
    (row,) = attendance(live_app, "S1").itertuples()
    assert row.score >= row.threshold + 0.15 and row.runner_up_gap >= 0.15
    assert live.health.unknown_tracks == 0  # "nobody" is never decided by one recognition
    picky = LiveCheckin(live_app, "op", k=3, n=5, sure_margin=1.0)  # nobody scores that far above: votes decide
    picky.use_session("S1")
    run(picky, canvas(picture("biden.jpg")), 1)
    assert BIDEN not in attendance(live_app, "S1")["student_id"].tolist()


def test_a_stranger_is_not_checked_in_and_is_alerted_once(live_app, picture):
    schedule(live_app, "S1")
    with TelegramFake(token="42:test") as telegram:
        alerts = UnknownFaceAlerts(live_app, TelegramClient(telegram.url, "42:test", "-100200"))
        live = LiveCheckin(live_app, "op", alerts=alerts)
        live.use_session("S1")
        run(live, canvas(picture(STRANGER), picture("biden.jpg")), 20)
        assert alerts.drain()
        alerts.close()
        assert attendance(live_app, "S1")["student_id"].tolist() == [BIDEN]
        (sent,) = telegram.photos  # one alert for the stranger's track, however many frames
    assert sent.chat_id == "-100200" and "Live check-in" in sent.caption
    assert cv2.imdecode(np.frombuffer(sent.photo, np.uint8), cv2.IMREAD_COLOR) is not None
    assert live_app.db.query("SELECT status FROM alerts")["status"].tolist() == ["sent"]
    assert live_app.db.scalar("SELECT count(*) FROM unknown_faces WHERE source = 'webcam'") == 1
    health, _, _ = live.snapshot()
    assert (health.faces_now, health.unknown_tracks) == (2, 1)


def test_with_liveness_on_a_still_photo_checks_no_one_in(live_app, picture):
    schedule(live_app, "S1", liveness="head_turn")
    live = LiveCheckin(live_app, "op")
    live.use_session("S1")
    # Ten seconds of a photo held to the camera, moved, turned and tilted in 3-D (tests/liveness_scenes.py).
    start = int(time.time() * 1000)
    for n, frame in enumerate(held_and_turned(canvas(picture("obama2.jpg")), 100, seed=6)):
        live.process(frame, start + n * 100)
    live.close()
    assert attendance(live_app, "S1").empty
    track = next(iter(live.tracker.tracks.values()))
    assert track.identity == OBAMA and track.state["outcome"].startswith("waiting")


def test_with_the_blink_check_a_blink_checks_in_and_a_turned_photo_does_not(live_app, picture):
    schedule(live_app, "S1", liveness="blink")
    live = LiveCheckin(live_app, "op")
    live.use_session("S1")
    photo = canvas(picture("obama2.jpg"))
    start = int(time.time() * 1000)
    for n, frame in enumerate(held_and_turned(photo, 90, seed=4, most_deg=40)):  # six seconds of a photo
        live.process(frame, start + n * 66)
    track = next(iter(live.tracker.tracks.values()))
    assert track.identity == OBAMA and track.state["outcome"] == "waiting: blink slowly"
    assert attendance(live_app, "S1").empty
    shut = eyes_shut(photo, live_app.faces.engine.detect(photo)[0].landmarks)
    for n, frame in enumerate(blinking(photo, shut), start=100):  # then the person: a blink
        live.process(frame, start + n * 66)
    live.close()
    rows = attendance(live_app, "S1")
    assert rows[["student_id", "liveness"]].values.tolist() == [[OBAMA, "blink passed"]]


def test_outside_the_rules_nothing_is_recorded(live_app, picture):
    frame = canvas(picture("obama2.jpg"), picture("Tom_Hanks_54745.png"))
    schedule(live_app, "ENDED")
    live_app.submit(event("session.ended", {"session_id": "ENDED"}))
    schedule(live_app, "NOT-STARTED", start=False)
    schedule(live_app, "LATER", minutes_ago=-30)
    for session_id in ("ENDED", "NOT-STARTED", "LATER"):
        live = LiveCheckin(live_app, "op")
        live.use_session(session_id)
        run(live, frame, 8)
        assert attendance(live_app, session_id).empty, session_id
    # Inside the window, only the class's member counts: the enrolled outsider is told why.
    schedule(live_app, "OPEN", minutes_ago=30)
    live = LiveCheckin(live_app, "op")
    live.use_session("OPEN")
    run(live, frame, 8)
    assert attendance(live_app, "OPEN")[["student_id", "status"]].values.tolist() == [[OBAMA, "late"]]
    outcomes = {t.identity: t.state.get("outcome") for t in live.tracker.tracks.values()}
    assert outcomes[OUTSIDER] == "not in this class"


def test_after_end_attendance_a_late_report_is_ignored(live_app):
    schedule(live_app, "S1")
    live_app.submit(event("session.ended", {"session_id": "S1"}))
    from core.attendance import attendance_event

    live_app.submit(attendance_event("S1", OBAMA, "present", int(time.time() * 1000) + 1000, "face", "cam"))
    assert attendance(live_app, "S1").empty


def test_once_per_day(live_app, picture):
    schedule(live_app, "MORNING", minutes_ago=50, length_min=40)
    live_app.submit(event("attendance.recorded", {"session_id": "MORNING", "student_id": OBAMA, "status": "present",
                                                  "method": "face", "at_ms": int(time.time() * 1000) - 45 * 60_000}))
    schedule(live_app, "AFTERNOON", once_per_day=True)
    live = LiveCheckin(live_app, "op")
    live.use_session("AFTERNOON")
    run(live, canvas(picture("obama2.jpg")), 8)
    assert attendance(live_app, "AFTERNOON").empty
    assert next(iter(live.tracker.tracks.values())).state["outcome"] == "already attended today"


@pytest.mark.parametrize("needs_face", [False, True])
def test_a_qr_card_checks_its_holder_in(live_app, needs_face):
    schedule(live_app, "S1", qr_needs_face=needs_face)
    card = cv2.imdecode(np.frombuffer(qr_png(qr_text(live_app, "GRAD", BIDEN), box_size=6), np.uint8),
                        cv2.IMREAD_COLOR)
    live = LiveCheckin(live_app, "op", qr_every=1)
    live.use_session("S1")
    run(live, canvas(card), 3)
    rows = attendance(live_app, "S1")
    if needs_face:
        assert rows.empty
    else:
        assert rows[["student_id", "method"]].values.tolist() == [[BIDEN, "qr"]]


def test_a_forged_card_is_refused(live_app):
    schedule(live_app, "S1")
    genuine = qr_text(live_app, "GRAD", BIDEN)
    forged = genuine[:-1] + ("1" if genuine.endswith("0") else "0")  # one hex digit of the signature changed
    card = cv2.imdecode(np.frombuffer(qr_png(forged, box_size=6), np.uint8), cv2.IMREAD_COLOR)
    live = LiveCheckin(live_app, "op", qr_every=1)
    live.use_session("S1")
    run(live, canvas(card), 2)
    assert attendance(live_app, "S1").empty
    _, seen, _ = live.snapshot()
    assert seen and seen[0].outcome.startswith("refused")


def test_the_video_shows_names_in_thai_and_the_session_state(live_app, picture):
    schedule(live_app, "S1")
    live = LiveCheckin(live_app, "op")
    live.use_session("S1")
    out = run(live, canvas(picture("obama2.jpg"), picture(STRANGER)), 6)
    from pathlib import Path

    shots = Path("test-artifacts/screens")
    shots.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(shots / "checkin-overlay.png"), out)
    # Green banner (ACTIVE) at the top left; a green box (present) and a red one (unknown).
    assert tuple(out[5, 5]) == (60, 170, 60)
    greens = np.all(out == (60, 170, 60), axis=2).sum()
    reds = np.all(out == (50, 50, 220), axis=2).sum()
    assert greens > 500 and reds > 200


def test_a_persons_own_card_from_the_people_page_checks_them_in(live_app, tmp_path):
    import subprocess

    from core.ceremonies import checkin_card_pdf
    from core.qr import CHECKIN_CARD, read_qr_codes

    schedule(live_app, "S1")
    pdf = checkin_card_pdf(live_app, {"student_id": BIDEN, "name": "ทดสอบ บัตร", "name_en": None, "department": None})
    (tmp_path / "card.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "110", "-png", "-singlefile", str(tmp_path / "card.pdf"),
                    str(tmp_path / "card")], check=True)
    page = cv2.imread(str(tmp_path / "card.png"))
    card = page[: page.shape[0] // 3, : page.shape[1] // 2]  # the first card of the printed page
    assert read_qr_codes(card)[0].split(":")[1:3] == [CHECKIN_CARD, BIDEN]
    live = LiveCheckin(live_app, "op", qr_every=1)
    live.use_session("S1")
    run(live, canvas(card), 2)
    assert attendance(live_app, "S1")[["student_id", "method"]].values.tolist() == [[BIDEN, "qr"]]


def test_the_video_learns_within_a_second_that_the_session_ended_elsewhere(live_app, picture):
    """Issue #13 item 10: after End attendance the overlay still said ACTIVE 13 s later. The video reads the
    session's state itself (by the frames' clock), whether or not the page refreshes it."""
    schedule(live_app, "S1")
    live = LiveCheckin(live_app, "op")
    live.use_session("S1")
    frame = canvas(picture("obama2.jpg"))
    t0 = int(time.time() * 1000)
    assert tuple(live.process(frame.copy(), t0)[5, 5]) == (60, 170, 60)  # green banner: ACTIVE
    live_app.submit(event("session.ended", {"session_id": "S1"}))  # ended on another page (or instance)
    banners = [tuple(live.process(frame.copy(), t0 + ms)[5, 5]) for ms in (200, 500, 1000, 1050)]
    live.close()
    green, red = (60, 170, 60), (50, 50, 220)
    assert banners == [green, green, red, red]  # read again once a second of frames has passed: ENDED, in red
    assert live.session["status"] == "ended"


@pytest.mark.parametrize(("empty_frames", "step_ms"), [(10, 40), (1, 400)])  # 0.4 s at 25 fps; a slow box
def test_the_next_in_the_queue_stepping_into_the_same_place_is_recognised_afresh(live_app, picture, empty_frames,
                                                                                step_ms):
    """A face kept by the tracker through a short gap is someone else after a longer one: no waiting for re-checks."""
    from core.checkin.tracking import iou

    schedule(live_app, "S1")
    live = LiveCheckin(live_app, "op")
    live.use_session("S1")
    first, second = canvas(picture("obama2.jpg")), canvas(picture("biden.jpg"))
    [a], [b] = live_app.faces.engine.detect(first), live_app.faces.engine.detect(second)
    zoom = a.box[2] / b.box[2]  # move and scale the second face onto the first one's place
    shift = np.float32([[zoom, 0, a.box[0] - zoom * b.box[0]], [0, zoom, a.box[1] - zoom * b.box[1]]])
    second = cv2.warpAffine(second, shift, (640, 480), borderValue=(110, 110, 110))
    empty = np.full_like(first, 110)
    t = int(time.time() * 1000)
    for frames, step in ((first, 6), (empty, 2), (first, 2)):  # two frames without a face: the same track
        for _ in range(step):
            live.process(frames.copy(), t)
            t += 40
    for _ in range(3):  # a slow box: frames 400 ms apart, the face found in each: still no gap
        live.process(first.copy(), t)
        t += 400
    [track] = live.tracker.tracks.values()
    assert track.identity == OBAMA and track.recognitions == 3  # decided, not recognised again
    box = track.box
    for frames, count in ((empty, empty_frames), (second, 6)):  # nobody for a while, then the next person
        for _ in range(count):
            live.process(frames.copy(), t)
            t += step_ms
    live.close()
    [track] = live.tracker.tracks.values()
    assert iou(track.box, box) > 0.3  # the tracker linked them: only the gap tells them apart
    assert track.identity == BIDEN
    assert attendance(live_app, "S1")["student_id"].tolist() == [OBAMA, BIDEN]
