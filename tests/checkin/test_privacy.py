"""Privacy with real faces: revoking consent, and erasing a person who was enrolled, checked in by the webcam
and a device camera, carded on stage and given an account — after which nothing of them is left in data/."""

from __future__ import annotations

import base64
import json

import pytest

from core import auth, ceremonies, people, privacy
from core.checkin.live import LiveCheckin
from core.eventlog import Event, now_ms
from core.faces.frames import FrameWorker
from core.keys import KeyErasedError
from core.privacy.consent import ConsentRequiredError
from tests.checkin.conftest import BIDEN, OBAMA, canvas, schedule


@pytest.fixture(autouse=True)
def keep_photos(monkeypatch):
    monkeypatch.setenv("ROLLCALL_KEEP_PHOTOS", "true")  # so that erasure has kept photos to delete


def who(app, photos, name: str) -> list[str | None]:
    return [f.student_id for f in app.faces.identify((photos / name).read_bytes(), name)]


def test_revoking_consent_removes_the_face_and_blocks_enrollment(live_app, photos):
    app = live_app
    assert who(app, photos, "obama3.jpg") == [OBAMA]
    token = app.db.scalar("SELECT token FROM face_templates WHERE student_id = ? LIMIT 1", [OBAMA])
    folder = privacy.photo_folder(app.settings, OBAMA)
    assert len(list(folder.glob("*.enc"))) == 2

    privacy.revoke_consent(app, OBAMA, "boss", "asked in writing")

    assert app.db.scalar("SELECT count(*) FROM face_templates WHERE student_id = ?", [OBAMA]) == 0
    assert app.db.scalar("SELECT photo_count FROM people WHERE student_id = ?", [OBAMA]) == 0
    assert not folder.exists()
    with pytest.raises(KeyErasedError):
        app.keys.decrypt(OBAMA, token)  # every copy of the template is unreadable
    assert who(app, photos, "obama3.jpg") == [None]  # the gallery forgot him at once
    assert who(app, photos, "biden.jpg") == [BIDEN]
    with pytest.raises(ConsentRequiredError, match="revoked on .*record consent again"):
        app.faces.enroll(OBAMA, [("obama.jpg", (photos / "obama.jpg").read_bytes())], "op")
    assert app.db.scalar("SELECT revoke_reason FROM consents WHERE student_id = ?", [OBAMA]) == "asked in writing"

    app.faces.record_consent(OBAMA, "new signed form", "op")
    assert app.faces.enroll(OBAMA, [("obama.jpg", (photos / "obama.jpg").read_bytes())], "op")[0].accepted
    assert who(app, photos, "obama3.jpg") == [OBAMA]


def files_with(folder, needles: dict[str, bytes]) -> dict[str, list[str]]:
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if hits := [label for label, needle in needles.items() if needle in data]:
            found[str(path.relative_to(folder))] = hits
    return found


def test_erasure_leaves_no_trace(live_app, photos, picture):
    app = live_app
    person = people.get(app, OBAMA)
    assert any("\u0e00" <= ch <= "\u0e7f" for ch in person["name"])  # a Thai name
    # Checked in by the webcam (with an encrypted face crop) and seen by a device camera
    schedule(app, "S1")
    live = LiveCheckin(app, "op")
    live.use_session("S1")
    frame = canvas(picture("obama2.jpg"))
    for n in range(12):
        live.process(frame.copy(), now_ms() + n * 50)
    live.close()
    crop_token = app.db.scalar("SELECT crop_token FROM evidence_crops WHERE student_id = ?", [OBAMA])
    crop = app.keys.decrypt(OBAMA, crop_token)
    jpeg = (photos / "obama.jpg").read_bytes()
    app.submit(Event(id="cam-1:b1:1", kind="frame.captured", ts_ms=now_ms(), actor="cam-1", source="device",
                     payload={"device_id": "cam-1", "boot_id": "b1", "seq": 1, "received_ms": now_ms(),
                              "jpeg_b64": base64.b64encode(jpeg).decode()}))
    frames = FrameWorker(app)
    assert frames.process_pending() == 1
    # An RFID card used on stage, a student account
    people.update(app, "op", OBAMA, {"rfid_tag": "04A1B2C3"})
    ceremonies.act(app, "op", "grad-2026", "ceremony.started")
    app.submit(Event(id="stage-1:b1:1", kind="rfid.scan", ts_ms=now_ms(), actor="stage-1", source="device",
                     payload={"device_id": "stage-1", "boot_id": "b1", "seq": 1, "tag": "04A1B2C3"}))
    auth.create_user(app, "admin", "obama", "student", student_id=OBAMA, display_name=person["name_en"],
                     password="student-pass-1")
    vectors = [v.tobytes() for sid, v in app.faces._vectors.values() if sid == OBAMA]
    assert len(vectors) == 2 and len(vectors[0]) == 128 * 4
    attended = app.db.scalar("SELECT count(*) FROM attendance WHERE student_id = ?", [OBAMA])
    biden_rows = app.db.query("SELECT * FROM attendance WHERE student_id = ? ORDER BY session_id", [BIDEN])
    needles = {"id": OBAMA.encode(), "name": person["name"].encode(), "name_en": person["name_en"].encode(),
               "frame": base64.b64encode(jpeg)[1000:1100], "crop": crop[200:300],
               **{f"template{n}": v for n, v in enumerate(vectors)}}
    before = files_with(app.settings.data_path, needles)
    assert {"id", "name", "name_en", "frame"} <= {label for hits in before.values() for label in hits}
    assert len(list(privacy.photo_folder(app.settings, OBAMA).glob("*.enc"))) == 2

    # While the app runs: the ingestor and the frame worker follow the log, the face service is loaded.
    app.ingestor.start(0.05)
    frames.start(0.05)
    report = privacy.erase_person(app, OBAMA, "boss", "written request")
    frames.stop()

    assert files_with(app.settings.data_path, needles) == {}
    assert not privacy.photo_folder(app.settings, OBAMA).exists() and report.photos_deleted == 2
    text = "\n".join(json.dumps([s.event.id, s.event.actor, s.event.payload], ensure_ascii=False)
                     for s in privacy.iter_log(app.log))
    assert OBAMA not in text and person["name"] not in text
    assert app.db.scalar("SELECT count(*) FROM attendance WHERE student_id = ?", [report.pseudonym]) == attended
    assert app.db.scalar("SELECT count(*) FROM evidence_crops") == 0  # the only crop was his
    assert app.db.query("SELECT * FROM attendance WHERE student_id = ? ORDER BY session_id",
                        [BIDEN]).equals(biden_rows)
    assert app.db.scalar("SELECT count(*) FROM users WHERE username = 'obama'") == 0
    # The app keeps working: others are still recognised, he is not
    assert who(app, photos, "biden.jpg") == [BIDEN]
    assert who(app, photos, "obama3.jpg") == [None]
    app.close()
    assert files_with(app.settings.data_path, needles) == {}
