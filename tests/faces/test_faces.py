"""The face engine with real weights and real photos from registry packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from core.config import PROJECT_ROOT, Settings
from core.faces import weights
from core.faces.images import ImageError, decode_image
from core.faces.service import FaceService
from core.keys import KeyErasedError, KeyStore
from core.privacy.consent import ConsentRequiredError
from tests.faces.conftest import read
from tests.photos import strangers


def test_the_same_person_matches_across_photos(face_app, photos):
    verdicts = face_app.faces.enroll("6501001", [read(photos, "obama.jpg"), read(photos, "obama3.jpg")], "op")
    assert [v.accepted for v in verdicts] == [True, True]
    face_app.faces.enroll("6501002", [read(photos, "biden.jpg")], "op")
    for probe in ("obama2.jpg", "obama_partial_face.jpg"):
        [face] = face_app.faces.identify((photos / probe).read_bytes(), probe)
        assert face.known and face.student_id == "6501001", (probe, face)
        assert face.score >= face_app.settings.match_threshold and face.images_count == 2
        assert face.name == face_app.db.scalar("SELECT name FROM people WHERE student_id = '6501001'")


def test_strangers_stay_unknown(face_app, photos):
    face_app.faces.enroll("6501001", [read(photos, "obama.jpg"), read(photos, "obama3.jpg")], "op")
    face_app.faces.enroll("6501002", [read(photos, "biden.jpg")], "op")
    known = []
    for path in strangers()[::6]:  # 31 strangers keeps the test quick; bench/accuracy.py runs all 186
        known += [f for f in face_app.faces.identify(path.read_bytes(), path.name) if f.known]
    assert known == []


def test_a_group_photo_yields_every_face(face_app, photos):
    faces = face_app.faces.identify((photos / "t1.jpg").read_bytes(), "t1.jpg")
    assert len(faces) == 6
    boxes = [tuple(f.box) for f in faces]
    assert len(set(boxes)) == 6 and all(w > 40 and h > 40 for _, _, w, h in boxes)


def test_enrollment_refuses_bad_photos_with_a_plain_reason(face_app, photos):
    obama = cv2.imread(str(photos / "obama.jpg"))
    def encode(img):
        return cv2.imencode(".jpg", img)[1].tobytes()

    good = (photos / "obama.jpg").read_bytes()
    cases = {
        "group.jpg": ((photos / "t1.jpg").read_bytes(), "more than one face"),
        "blur.jpg": (encode(cv2.GaussianBlur(obama, (0, 0), 6)), "too blurred"),
        "dark.jpg": (encode((obama * 0.15).astype(np.uint8)), "too dark"),
        "bright.jpg": (encode(cv2.convertScaleAbs(obama, alpha=1, beta=150)), "too bright"),
        "small.jpg": (encode(cv2.resize(obama, (120, 150))), "too small"),
        "wall.jpg": (encode(np.full((480, 640, 3), 128, np.uint8)), "no face found"),
        "empty.jpg": (b"", "empty"),
        "cut.jpg": (good[: len(good) // 2], "truncated"),
        "notes.jpg": (b"these are not pixels" * 50, "not an image"),
    }
    verdicts = face_app.faces.enroll("6501001", [(n, data) for n, (data, _) in cases.items()], "op")
    for verdict in verdicts:
        assert not verdict.accepted and cases[verdict.name][1] in verdict.reason, verdict
    assert face_app.db.scalar("SELECT count(*) FROM face_templates") == 0


def test_image_limits(settings):
    with pytest.raises(ImageError, match="larger than"):
        decode_image(b"\xff\xd8" + b"0" * 2000, "big.jpg", max_bytes=1000, max_pixels=10**6)
    huge = cv2.imencode(".png", np.zeros((3000, 3000, 3), np.uint8))[1].tobytes()
    with pytest.raises(ImageError, match="too large"):
        decode_image(huge, "huge.png", max_bytes=10**8, max_pixels=4_000_000)


def test_consent_is_required_before_any_photo_is_processed(face_app, photos):
    with pytest.raises(ConsentRequiredError, match="No consent"):
        face_app.faces.enroll("6501010", [read(photos, "obama.jpg")], "op")
    assert face_app.db.scalar("SELECT count(*) FROM face_templates") == 0
    with pytest.raises(ConsentRequiredError):
        face_app.faces.record_consent("6501010", "  ", "op")


def test_templates_are_encrypted_and_erasing_the_key_makes_them_unreadable(face_app, photos, tmp_path):
    face_app.faces.enroll("6501001", [read(photos, "obama.jpg")], "op")
    token = face_app.db.scalar("SELECT token FROM face_templates")
    raw = np.frombuffer(face_app.keys.decrypt("6501001", token), np.float32)
    assert raw.shape == (128,) and abs(float(np.linalg.norm(raw)) - 1) < 1e-4
    # Neither the read model nor the log holds the vector in the clear.
    assert raw.tobytes() not in token.encode()
    logged = [s.event.payload for s in face_app.log.read_after(0) if s.event.kind == "face.enrolled"]
    assert logged[0]["token"] == token and "embedding" not in json.dumps(logged)
    # Another key store (another master key) cannot read it.
    from cryptography.fernet import Fernet

    stranger = KeyStore(tmp_path / "other.sqlite", Fernet.generate_key())
    with pytest.raises(KeyErasedError):
        stranger.decrypt("6501001", token)
    # Crypto-shredding: once the person's key is erased, nothing of theirs can be matched.
    assert face_app.keys.erase("6501001")
    with pytest.raises(KeyErasedError):
        face_app.keys.decrypt("6501001", token)
    restarted = FaceService(face_app)  # a new process reads the same read model and log
    [face] = restarted.identify((photos / "obama2.jpg").read_bytes())
    assert not face.known and restarted.gallery.people() == 0


def test_another_persons_face_is_enrolled_only_when_staff_confirm_with_a_reason(face_app, photos):
    """Issue #13: Obama's second photo for another student was enrolled with only a note."""
    from datetime import date

    from core import audit

    face_app.faces.enroll("6501001", [read(photos, "obama.jpg")], "op")
    upload = [read(photos, "obama3.jpg"), read(photos, "biden.jpg")]
    refused, held = face_app.faces.enroll("6501002", upload, "op")
    assert not refused.accepted and refused.looks_like is not None
    assert refused.looks_like.student_id == "6501001" and refused.looks_like.score >= face_app.settings.match_threshold
    assert refused.face_crop is not None and refused.face_crop[:2] == b"\xff\xd8"  # a JPEG to show beside theirs
    assert not held.accepted and held.looks_like is None  # nothing of the upload goes in unconfirmed
    assert held.unlike_own is not None and held.unlike_photo == refused.face_crop  # and it is unlike the first
    assert face_app.faces.templates_of("6501002").empty
    assert face_app.faces.face_picture("6501001") is None  # photos are not kept: the page shows name, id, score

    blank = face_app.faces.enroll("6501002", upload, "op", confirm_lookalike_reason="   ")
    assert not any(v.accepted for v in blank) and face_app.faces.templates_of("6501002").empty

    reason = "identical twins, checked their student cards"
    confirmed = face_app.faces.enroll("6501002", upload, "op", confirm_lookalike_reason=reason)
    assert [v.accepted for v in confirmed] == [True, True]
    assert len(face_app.faces.templates_of("6501002")) == 2
    trail = audit.search(face_app, start=date(2000, 1, 1), end=date(2100, 1, 1), action="face.enrolled")
    mine = trail[trail["target"] == "6501002"]
    # Both carry it: Obama's looks like 6501001, and Biden's is unlike Obama's in the same upload (issue #14).
    assert list(mine["reason"].dropna()) == [reason, reason]
    assert "6501001" in " ".join(mine["detail"])
    [other] = face_app.faces.enroll("6501003", [read(photos, "biden.jpg")], "op")
    assert other.accepted is False and other.looks_like.student_id == "6501002"  # Biden is enrolled now


def test_the_look_alike_is_shown_by_their_latest_kept_photo(face_app, photos):
    face_app.settings.keep_photos = True
    face_app.faces.enroll("6501001", [read(photos, "obama.jpg")], "op")
    assert face_app.faces.face_picture("6501001") == (photos / "obama.jpg").read_bytes()


def test_not_this_person_becomes_a_hard_negative(face_app, photos):
    face_app.faces.enroll("6501001", [read(photos, "obama.jpg")], "op")
    face_app.faces.enroll("6501002", [read(photos, "biden.jpg")], "op")
    image = cv2.imread(str(photos / "obama2.jpg"))
    [(face, match)] = face_app.faces.match_faces(image)
    assert match.student_id == "6501001"
    face_app.faces.not_this_person("6501001", face.embedding, "op", reason="it is his brother")
    [(_, again)] = face_app.faces.match_faces(image)
    assert again.student_id != "6501001"
    # Other photos of the real person still match.
    [(_, still)] = face_app.faces.match_faces(cv2.imread(str(photos / "obama3.jpg")))
    assert still.student_id == "6501001"
    assert face_app.db.scalar("SELECT reason FROM audit WHERE action = 'face.not_this_person'") == "it is his brother"


def test_photo_count_and_rebuild_keep_templates(face_app, photos):
    face_app.faces.enroll("6501001", [read(photos, "obama.jpg"), read(photos, "obama3.jpg")], "op")
    assert face_app.db.scalar("SELECT photo_count FROM people WHERE student_id = '6501001'") == 2
    face_app.ingestor.rebuild()
    assert face_app.db.scalar("SELECT photo_count FROM people WHERE student_id = '6501001'") == 2
    face_app.faces.remove_templates("6501001", "op", reason="new photos coming")
    assert face_app.db.scalar("SELECT photo_count FROM people WHERE student_id = '6501001'") == 0


def test_missing_weights_give_one_clear_error(tmp_path):
    settings = Settings(deepface_home=tmp_path / "empty")
    with pytest.raises(weights.WeightsError) as info:
        weights.require(settings, "yunet", "SFace")
    message = str(info.value)
    assert "face_detection_yunet_2023mar.onnx is missing" in message
    assert "face_recognition_sface_2021dec.onnx is missing" in message and "make setup" in message


def test_engine_is_safe_from_several_threads(face_app, photos):
    engine = face_app.faces.engine
    image = cv2.imread(str(photos / "t1.jpg"))
    expected = sorted(f.box for f in engine.analyze(image))
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                results.append(sorted(f.box for f in engine.analyze(image)))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(r == expected for r in results)


def test_cli_enroll_and_identify_json(settings, photos):
    env = {**os.environ, "ROLLCALL_DATA_DIR": str(settings.data_path)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    assert cli("demo").returncode == 0
    refused = cli("enroll", "6501001", str(photos / "obama.jpg"))
    assert refused.returncode == 1 and "No consent" in refused.stderr
    enrolled = cli("enroll", "6501001", str(photos / "obama.jpg"), str(photos / "t1.jpg"), "--consent", "signed form")
    assert enrolled.returncode == 0, enrolled.stderr
    assert "t1.jpg: refused: more than one face" in enrolled.stderr and "1 of 2 photo(s)" in enrolled.stdout
    out = cli("identify", str(photos / "obama3.jpg"), "--json")
    assert out.returncode == 0, out.stderr
    [face] = json.loads(out.stdout)["faces"]
    assert set(face) == {"box", "known", "student_id", "name", "guardian_name", "department", "contact",
                         "images_count", "score", "runner_up_gap"}
    assert face["known"] and face["student_id"] == "6501001" and len(face["box"]) == 4 and face["images_count"] == 1
    group = json.loads(cli("identify", str(photos / "t1.jpg"), "--json").stdout)["faces"]
    assert len(group) == 6 and not any(f["known"] for f in group) and all(f["student_id"] is None for f in group)
    text = cli("identify", str(photos / "obama3.jpg"))
    assert "6501001" in text.stdout and "score" in text.stdout
    bad = cli("identify", str(photos / "unknowns"))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_a_photo_unlike_the_persons_own_is_held_until_staff_confirm(face_app, photos):
    """Issue #14: a photo in the wrong folder (someone not enrolled) was enrolled with only a warning."""
    from datetime import date

    from core import audit

    face_app.faces.enroll("6501001", [read(photos, "obama.jpg")], "op")
    [held] = face_app.faces.enroll("6501001", [read(photos, "biden.jpg")], "op")
    assert not held.accepted and held.held and held.looks_like is None
    assert held.unlike_own < face_app.settings.match_threshold and "does not look like" in held.reason
    assert held.face_crop[:2] == b"\xff\xd8" and held.unlike_photo is None  # compared with an enrolled photo
    assert len(face_app.faces.templates_of("6501001")) == 1
    # A good photo in the same upload waits with it; a same-person photo alone goes in as before.
    waiting = face_app.faces.enroll("6501001", [read(photos, "obama3.jpg"), read(photos, "biden.jpg")], "op")
    assert [v.accepted for v in waiting] == [False, False] and "needs staff" in waiting[0].reason
    assert [v.accepted for v in face_app.faces.enroll("6501001", [read(photos, "obama3.jpg")], "op")] == [True]

    # Within one first upload: the second face is compared with the first (its crop is shown beside it).
    john = (PROJECT_ROOT.parent / "shared/datasets/johns/John_Savage/000264_01099001.jpg")
    first, second = face_app.faces.enroll("6501002", [read(photos, "biden.jpg"), (john.name, john.read_bytes())], "op")
    assert not first.held and second.held and second.unlike_photo == first.face_crop

    reason = "same student, photo from 2019 before glasses"
    [ok] = face_app.faces.enroll("6501001", [read(photos, "biden.jpg")], "op", confirm_lookalike_reason=reason)
    assert ok.accepted and len(face_app.faces.templates_of("6501001")) == 3
    trail = audit.search(face_app, start=date(2000, 1, 1), end=date(2100, 1, 1), action="face.enrolled")
    assert list(trail[trail["target"] == "6501001"]["reason"].dropna()) == [reason]


def test_a_persons_threshold_is_raised_by_not_this_person_marks_and_shows_why(face_app, photos):
    face_app.faces.enroll("6501001", [read(photos, "obama.jpg")], "op")
    face_app.faces.enroll("6501002", [read(photos, "biden.jpg")], "op")
    before = face_app.faces.threshold_of("6501001")
    assert before.threshold == face_app.settings.match_threshold and not before.raised
    assert before.nearest == "6501002" and "closest other enrolled person" in before.evidence()
    [(face, match)] = face_app.faces.match_faces(cv2.imread(str(photos / "obama2.jpg")))
    face_app.faces.not_this_person("6501001", face.embedding, "op", reason="his brother")
    after = face_app.faces.threshold_of("6501001")
    expected = min(face_app.settings.person_threshold_max, match.score + face_app.settings.person_threshold_margin)
    assert after.raised and after.negatives == 1 and abs(after.threshold - expected) < 1e-3
    assert 'not this person" mark' in after.evidence(face_app.faces.label) and "raised from" in after.evidence()
    assert face_app.faces.threshold_of("6501003") is None  # nobody without templates has one
