"""AppTest: consent, photo enrollment with verdicts, and the bulk .zip on the People page."""

from __future__ import annotations

import io
import zipfile

import cv2

from core.services import Rollcall
from pages._ui import keyed
from tests.app.conftest import as_user, texts
from tests.app.test_pages import PAGES


def open_person(student_id: str):
    at = as_user(PAGES["people"], "op").run()
    at.text_input(key="people_search").input(student_id).run()
    at.session_state[keyed("people_table", student_id)] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    return at.run()


def test_consent_then_enroll_photos_with_verdicts(seeded, photos):
    at = open_person("6501001")
    assert any("No consent on record" in w for w in texts(at, "warning"))
    consent = next(t for t in at.text_input if t.label == "How was consent given?")
    consent.input("signed form 2026-11")
    next(b for b in at.button if b.label == "Record consent").click().run()
    assert not at.exception
    uploader = next(u for u in at.get("file_uploader") if u.label.startswith("Photos"))
    uploader.upload("obama.jpg", (photos / "obama.jpg").read_bytes(), "image/jpeg")
    uploader.upload("t1.jpg", (photos / "t1.jpg").read_bytes(), "image/jpeg")
    at.run()
    next(b for b in at.button if b.label.startswith("Enroll 2 photo")).click().run()
    assert not at.exception, at.exception
    assert "1 of 2 photo(s) enrolled." in texts(at, "success")
    verdicts = next(d.value for d in at.dataframe if "Result" in d.value.columns)
    assert list(verdicts["Result"]) == ["enrolled", "refused"]
    assert "more than one face" in verdicts["Why / warnings"].iloc[1]
    app = Rollcall(seeded)
    assert app.db.scalar("SELECT photo_count FROM people WHERE student_id = '6501001'") == 1
    assert app.db.scalar("SELECT method FROM consents WHERE student_id = '6501001'") == "signed form 2026-11"


def test_bulk_zip_enrolls_by_file_name(seeded, photos):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("6501002.jpg", (photos / "biden.jpg").read_bytes())
        zf.writestr("6501003/front.jpg", (photos / "obama.jpg").read_bytes())
        zf.writestr("6501003/side.jpg", (photos / "obama3.jpg").read_bytes())
        zf.writestr("9999999.jpg", (photos / "obama2.jpg").read_bytes())
        zf.writestr("notes.txt", "hello")
    at = as_user(PAGES["people"], "op").run()
    next(u for u in at.get("file_uploader") if u.label == "Photos (.zip)").upload(
        "class.zip", buffer.getvalue(), "application/zip")
    next(t for t in at.text_input if t.label.startswith("Record consent for everyone")).input("signed forms")
    at.run()
    at.button(key="zip_enroll").click().run()
    assert not at.exception, at.exception
    assert "3 of 4 photo(s) enrolled." in texts(at, "success")
    table = next(d.value for d in at.dataframe if "Student id" in d.value.columns and "Result" in d.value.columns)
    refused = table[table["Result"] == "refused"]
    assert list(refused["Student id"]) == ["9999999"] and "No person" in refused["Why / warnings"].iloc[0]
    assert any("notes.txt" in w for w in texts(at, "warning"))
    assert Rollcall(seeded).db.scalar("SELECT photo_count FROM people WHERE student_id = '6501003'") == 2


def test_broken_zip_members_do_not_crash_the_page(seeded, photos):
    """Encrypted, unknown method, corrupt, bad CRC, bombs and ../ paths: each file its error, the rest enrolled."""
    from tests.test_bad_input import hostile_zip

    data, expected = hostile_zip(photos)
    at = as_user(PAGES["people"], "op").run()
    next(u for u in at.get("file_uploader") if u.label == "Photos (.zip)").upload("class.zip", data, "application/zip")
    next(t for t in at.text_input if t.label.startswith("Record consent for everyone")).input("signed forms")
    at.run()
    at.button(key="zip_enroll").click().run()
    assert not at.exception, at.exception
    assert f"2 of {len(expected) + 3} photo(s) enrolled." in texts(at, "success")
    [error] = [e for e in texts(at, "error") if "Could not be read" in e]
    for name in ("6501002.jpg", "6501003/side.jpg", "6501008.jpg"):
        assert name in error
    assert "encrypted" in error and "checksum" in error
    table = next(d.value for d in at.dataframe if "Student id" in d.value.columns and "Result" in d.value.columns)
    assert sorted(table[table["Result"] == "enrolled"]["Student id"]) == ["6501001", "6501011"]
    app = Rollcall(seeded)
    assert app.db.scalar("SELECT count(*) FROM face_templates") == 2


def test_a_zip_that_is_not_a_zip(seeded):
    at = as_user(PAGES["people"], "op").run()
    next(u for u in at.get("file_uploader") if u.label == "Photos (.zip)").upload(
        "class.zip", b"PK but not really", "application/zip")
    at.run()
    at.button(key="zip_enroll").click().run()
    assert any("not a .zip file" in e for e in texts(at, "error"))


def test_identify_a_photo_and_mark_a_wrong_match(seeded, photos):
    app = Rollcall(seeded)
    app.faces.record_consent("6501001", "signed form", "test")
    app.faces.enroll("6501001", [("obama.jpg", (photos / "obama.jpg").read_bytes())], "test")
    app.close()
    at = as_user(PAGES["people"], "op").run()
    next(u for u in at.get("file_uploader") if u.label == "Photo").upload(
        "probe.jpg", (photos / "obama2.jpg").read_bytes(), "image/jpeg")
    at.run()
    assert not at.exception, at.exception
    assert any("6501001" in m.value for m in at.markdown)
    at.button(key="reject_1").click().run()
    assert not at.exception, at.exception
    app = Rollcall(seeded)
    assert app.db.scalar("SELECT count(*) FROM face_negatives WHERE student_id = '6501001'") == 1
    [(_, match)] = app.faces.match_faces(cv2.imread(str(photos / "obama2.jpg")))
    assert match.student_id != "6501001"
