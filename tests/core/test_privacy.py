"""Privacy without face models: retention purges exactly what expired (and a rebuild agrees), erasure takes a
person out of the log and the data folder (both event-log back-ends), the consent register."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core import auth, ceremonies, people, privacy
from core.config import Settings
from core.demo import load_demo
from core.eventlog import Event, now_ms
from core.privacy import erasure
from core.services import Rollcall
from tests.core.test_ingestor import snapshot

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
A, B, C = "6501001", "6501002", "6501003"


def ms(days_ago: float) -> int:
    return int((NOW - timedelta(days=days_ago)).timestamp() * 1000)


def ev(kind: str, payload: dict, at_ms: int, actor: str | None = "op", source: str = "app", id_: str | None = None):
    return Event(id=id_ or str(uuid.uuid4()), kind=kind, ts_ms=at_ms, payload=payload, actor=actor, source=source)


def frame(seq: int, at_ms: int) -> Event:
    jpeg = base64.b64encode(f"JPEG-{seq}-".encode() * 50).decode()
    return ev("frame.captured", {"device_id": "cam-1", "boot_id": "b1", "seq": seq, "received_ms": at_ms,
                                 "jpeg_b64": jpeg}, at_ms, actor="cam-1", source="device", id_=f"cam-1:b1:{seq}")


def all_events(app: Rollcall) -> list[Event]:
    return [s.event for s in privacy.iter_log(app.log)]


def log_text(app: Rollcall) -> str:
    return "\n".join(json.dumps([e.id, e.kind, e.actor, e.payload], ensure_ascii=False) for e in all_events(app))


@pytest.fixture
def papp(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", retention_frame_days=30, retention_crop_days=90,
                        retention_attendance_days=365, retention_template_idle_days=180)
    app = Rollcall(settings)
    yield app
    app.close()


def test_retention_purges_exactly_what_expired_and_a_rebuild_agrees(papp):
    app = papp
    load_demo(app, today=NOW.date())
    app.submit(ev("class.upserted", {"class_id": "OLDC", "name": "Old class", "members": [A, B]}, ms(500)))
    crops = {}
    for sid_, days in (("OLD-S", 400), ("MID-S", 100), ("NEW-S", 10)):
        app.submit(ev("session.scheduled", {"session_id": sid_, "class_id": "OLDC", "starts_at_ms": ms(days),
                                            "ends_at_ms": ms(days) + 3_600_000}, ms(days) - 1000))
        crops[sid_] = app.keys.encrypt(A, f"crop of {sid_}".encode())
        app.submit(ev("attendance.recorded", {
            "session_id": sid_, "student_id": A, "status": "present", "method": "face", "at_ms": ms(days) + 60_000,
            "score": 0.7, "evidence": {"crop_token": crops[sid_], "model": "SFace"}}, ms(days) + 60_000,
            id_=f"attendance:{sid_}:{A}"))
    app.submit(ev("attendance.corrected", {"session_id": "OLD-S", "student_id": B, "status": "excused",
                                           "reason": "sick note"}, ms(399)))
    vector = np.random.default_rng(1).normal(size=128).astype(np.float32)
    tokens = {sid: app.keys.encrypt(sid, vector.tobytes()) for sid in (A, C)}
    app.submit(ev("face.enrolled", {"template_id": "tA", "student_id": A, "model": "SFace", "detector": "yunet",
                                    "token": tokens[A]}, ms(300)),
               ev("face.enrolled", {"template_id": "tC", "student_id": C, "model": "SFace", "detector": "yunet",
                                    "token": tokens[C]}, ms(200)),
               ev("face.not_this_person", {"student_id": C, "model": "SFace", "token": tokens[C] + "n"}, ms(199)))
    app.submit(frame(1, ms(40)), frame(2, ms(5)))
    with app.db.write() as cur:  # the frame worker has looked at these two
        cur.execute("INSERT OR REPLACE INTO processor_state VALUES ('frames', ?)", [app.log.head()])
    app.submit(frame(3, ms(50)))  # not looked at yet: kept whatever its age
    assert app.db.scalar("SELECT count(*) FROM evidence_crops") == 3
    head = app.log.head()

    result = privacy.purge_expired(app, NOW)

    assert result.counts == {"frames": 1, "crops": 1, "attendance": 2, "templates": 1, "negatives": 1}
    assert result.cutoffs["attendance"] == NOW - timedelta(days=365)
    frames = {e.id: e.payload for e in all_events(app) if e.kind == "frame.captured"}
    assert "jpeg_b64" not in frames["cam-1:b1:1"] and frames["cam-1:b1:1"]["jpeg_bytes"] > 0
    assert "jpeg_b64" in frames["cam-1:b1:2"] and "jpeg_b64" in frames["cam-1:b1:3"]
    text = log_text(app)
    assert crops["OLD-S"] not in text and crops["MID-S"] not in text and crops["NEW-S"] in text
    assert tokens[C] not in text and tokens[A] in text and "sick note" not in text
    assert app.db.query("SELECT session_id FROM evidence_crops")["session_id"].tolist() == ["NEW-S"]
    assert app.db.scalar("SELECT count(*) FROM attendance WHERE session_id = 'OLD-S'") == 0
    assert app.db.scalar("SELECT count(*) FROM attendance WHERE session_id IN ('MID-S', 'NEW-S')") == 2
    assert app.db.query("SELECT template_id FROM face_templates")["template_id"].tolist() == ["tA"]
    assert app.db.scalar("SELECT count(*) FROM face_negatives") == 0
    assert app.db.scalar("SELECT photo_count FROM people WHERE student_id = ?", [C]) == 0
    assert app.db.scalar("SELECT count(*) FROM audit WHERE reason = 'sick note'") == 0
    assert app.log.head() == head + 1  # one retention.purged event, and it is in the audit trail
    assert files_with(app.settings.data_path, {"crop": crops["OLD-S"].encode()}) == {}  # not in freed blocks either
    purged = [e for e in all_events(app) if e.kind == "retention.purged"]
    assert len(purged) == 1 and purged[0].source == "worker" and purged[0].payload["counts"]["attendance"] == 2
    last = privacy.last_purges(app)
    assert len(last) == 1 and "attendance 2" in last["detail"][0]

    before = snapshot(app)
    app.ingestor.rebuild()
    assert snapshot(app) == before

    again = privacy.purge_expired(app, NOW)  # idempotent: nothing more expired, nothing appended
    assert again.total == 0 and again.event_id is None and app.log.head() == head + 1
    assert snapshot(app) == before


def test_retention_zero_keeps_everything(tmp_path):
    app = Rollcall(Settings(data_dir=tmp_path / "data", retention_frame_days=0, retention_crop_days=0,
                            retention_attendance_days=0, retention_template_idle_days=0))
    try:
        load_demo(app, today=date(2020, 1, 6))
        app.submit(frame(1, ms(4000)))
        result = privacy.purge_expired(app, NOW)
        assert result.total == 0 and all(v is None for v in result.cutoffs.values())
        assert app.db.scalar("SELECT count(*) FROM attendance") > 0
    finally:
        app.close()


def test_the_retention_worker_purges_once_per_period(papp):
    app = papp
    app.submit(frame(1, now_ms() - 40 * privacy.DAY_MS))
    with app.db.write() as cur:
        cur.execute("INSERT OR REPLACE INTO processor_state VALUES ('frames', ?)", [app.log.head()])
    worker = privacy.RetentionWorker(app)
    assert worker.tick() == 1
    app.submit(frame(2, now_ms() - 40 * privacy.DAY_MS))
    with app.db.write() as cur:
        cur.execute("INSERT OR REPLACE INTO processor_state VALUES ('frames', ?)", [app.log.head()])
    assert worker.tick() == 0  # not due again within the hour


# --- erasure ------------------------------------------------------------------------------------

def files_with(folder: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if hits := [label for label, needle in needles.items() if needle in data]:
                found[str(path.relative_to(folder))] = hits
    return found


def setup_person(app: Rollcall) -> dict:
    """A demo person with an RFID tag, a consent, a (fake) face template, a student account, a ceremony place
    (on stage by their card) and class attendance."""
    load_demo(app, today=date(2026, 11, 22))
    person = people.get(app, A)
    people.update(app, "op", A, {"rfid_tag": "04A1B2C3", "pronunciation": "ชะ-ยะ-พน"}, reason=f"card for {A}")
    app.submit(Event.new("consent.recorded", {"student_id": A, "method": "signed form", "purpose": "attendance"},
                         actor="op"))
    template = np.random.default_rng(2).normal(size=128).astype(np.float32)
    app.submit(Event.new("face.enrolled", {"template_id": "t1", "student_id": A, "model": "SFace",
                                           "detector": "yunet", "token": app.keys.encrypt(A, template.tobytes())},
                         actor="op"))
    auth.create_user(app, "admin", "chayapon", "student", student_id=A, display_name=person["name_en"],
                     password="student-pass-1")
    ceremonies.act(app, "op", "grad-2026", "ceremony.started")
    app.submit(Event(id="stage-1:b1:1", kind="rfid.scan", ts_ms=now_ms(), actor="stage-1", source="device",
                     payload={"device_id": "stage-1", "boot_id": "b1", "seq": 1, "tag": "04A1B2C3"}))
    assert ceremonies.load(app, "grad-2026").entries[A].status == "on_stage"
    return {"person": person, "template": template}


def others(app: Rollcall, table: str, order: str) -> list:
    # person_no is a meaningless counter handed out in order of first check-in: removing someone renumbers it.
    columns = "* EXCLUDE (person_no)" if table == "attendance" else "*"
    return app.db.query(f"SELECT {columns} FROM {table} WHERE student_id <> ? "
                        f"AND student_id NOT LIKE 'erased-%' ORDER BY {order}", [A]).to_json(orient="records",
                                                                                        date_format="iso")


def no_rebuild(*args, **kwargs):
    raise AssertionError("an erasure rebuilt the read model")


@pytest.mark.parametrize("keep", [True, False])
def test_erasure_leaves_no_trace_in_the_log_or_the_data_folder(app, keep):
    made = setup_person(app)
    person = made["person"]
    attendance_before = app.db.scalar("SELECT count(*) FROM attendance WHERE student_id = ?", [A])
    assert attendance_before > 0
    people_before, attendance_others = others(app, "people", "student_id"), others(app, "attendance",
                                                                                   "session_id, student_id")
    entries_others = others(app, "ceremony_entries", "student_id")
    needles = {"id": A.encode(), "name": person["name"].encode(), "name_en": person["name_en"].encode(),
               "email": person["email"].encode(), "tag": b"04A1B2C3", "pronunciation": "ชะ-ยะ-พน".encode(),
               "template": made["template"].tobytes(), "username": b"chayapon"}
    found = {label for hits in files_with(app.settings.data_path, needles).values() for label in hits}
    assert found == set(needles) - {"template"}  # all there before (the template only ever encrypted)
    app.ingestor.start(0.05)  # as in the running app
    rebuild = app.ingestor.rebuild
    app.ingestor.rebuild = no_rebuild  # the read model is changed row by row, not rebuilt

    report = privacy.erase_person(app, A, "boss", f"written request of {person['name']} ({A})", keep_attendance=keep)
    app.ingestor.rebuild = rebuild

    p = report.pseudonym
    assert p.startswith("erased-") and report.events_changed > 5
    assert files_with(app.settings.data_path, needles) == {}
    text = log_text(app)
    assert A not in text and person["name"] not in text and "chayapon" not in text
    assert app.db.scalar("SELECT count(*) FROM people WHERE student_id = ?", [A]) == 0
    for table in ("consents", "face_templates", "users", "class_members", "attendance", "ceremony_entries"):
        assert app.db.scalar(f"SELECT count(*) FROM {table} WHERE student_id = ?", [A]) == 0, table
    kept = app.db.scalar("SELECT count(*) FROM attendance WHERE student_id = ?", [p])
    assert kept == (attendance_before if keep else 0)
    assert (app.db.scalar("SELECT count(*) FROM class_members WHERE student_id = ?", [p]) > 0) is keep
    entry = app.db.query("SELECT status FROM ceremony_entries WHERE student_id = ?", [p])
    assert entry["status"].tolist() == ["on_stage"]  # their card's scan still counts, under the pseudonym
    assert others(app, "people", "student_id") == people_before
    assert others(app, "attendance", "session_id, student_id") == attendance_others
    assert others(app, "ceremony_entries", "student_id") == entries_others
    audit = app.db.query("SELECT actor, target, reason FROM audit WHERE action = 'person.erased'")
    assert audit.values.tolist() == [["boss", p, f"written request of {privacy.ERASED} ({p})"]]
    with pytest.raises(privacy.PrivacyError, match="No person"):
        privacy.erase_person(app, A, "boss", "again")
    app.ingestor.stop()
    before = snapshot(app)
    app.ingestor.rebuild()
    assert snapshot(app) == before
    app.close()
    assert files_with(app.settings.data_path, needles) == {}


def test_erasure_needs_a_reason_and_a_known_person(app):
    load_demo(app, today=date(2026, 11, 22))
    with pytest.raises(privacy.PrivacyError, match="why"):
        privacy.erase_person(app, A, "boss", "  ")
    with pytest.raises(privacy.PrivacyError, match="No person"):
        privacy.erase_person(app, "9999999", "boss", "request")


def test_erasure_on_firestore_rewrites_the_log_there(firestore_emulator, tmp_path, monkeypatch):
    for key, value in {**firestore_emulator.env(), "ROLLCALL_FIRESTORE_PREFIX": f"t{uuid.uuid4().hex[:8]}"}.items():
        monkeypatch.setenv(key, value)
    app = Rollcall(Settings(data_dir=tmp_path / "data", event_log_backend="firestore"))
    try:
        load_demo(app, today=date(2026, 11, 22))
        person = people.get(app, A)
        count = app.db.scalar("SELECT count(*) FROM attendance WHERE student_id = ?", [A])
        positions = [s.position for s in app.log.read_after(0, 10_000)]
        report = privacy.erase_person(app, A, "boss", "request")
        text = log_text(app)
        assert A not in text and person["name"] not in text and person["name_en"] not in text
        assert app.db.scalar("SELECT count(*) FROM attendance WHERE student_id = ?", [report.pseudonym]) == count
        # Rewritten in place: every event keeps its position (one more at the end: the person.erased entry).
        after = [s.position for s in app.log.read_after(0, 10_000)]
        assert after[:-1] == positions and after == sorted(set(after)) and after[-1] == app.log.head()
    finally:
        app.close()


# --- consent register (revocation with faces: tests/checkin/test_privacy.py) ----------------------

def test_consent_register_lists_and_filters(app):
    load_demo(app, today=date(2026, 11, 22))
    for sid in (A, B):
        app.submit(Event.new("consent.recorded", {"student_id": sid, "method": "signed form", "purpose": "attendance"},
                             actor="op"))
    privacy.revoke_consent(app, B, "boss", "asked by e-mail")
    register = privacy.consent_register(app)
    assert dict(zip(register["student_id"], register["status"], strict=True)) == {A: "in force", B: "revoked"}
    revoked = privacy.consent_register(app, status="revoked")
    assert revoked[["student_id", "revoked_by", "revoke_reason"]].values.tolist() == [[B, "boss", "asked by e-mail"]]
    name = people.get(app, A)["name"]
    assert privacy.consent_register(app, text=name.split()[0])["student_id"].tolist() == [A]
    with pytest.raises(privacy.PrivacyError, match="No consent in force"):
        privacy.revoke_consent(app, B, "boss", "again")
    with pytest.raises(privacy.PrivacyError, match="why"):
        privacy.revoke_consent(app, A, "boss", "")
    assert app.db.scalar("SELECT count(*) FROM audit WHERE action = 'consent.revoked' AND reason = 'asked by e-mail'")
    app.submit(Event.new("consent.recorded", {"student_id": B, "method": "new form"}, actor="op"))
    assert privacy.consent_register(app, status="revoked").empty  # recorded again: a new consent in force


def test_the_written_policy_states_the_settings(tmp_path):
    table = privacy.policy(Settings(data_dir=tmp_path, retention_crop_days=45, retention_attendance_days=1826))
    kept = dict(zip(table["Data"], table["Kept for"], strict=True))
    assert kept["Check-in face crops"] == "45 days"
    assert kept["Attendance"].startswith("1826 days (about 5 years)")
    assert "revoked" in kept["Face templates"]


def test_erasure_scrubs_their_name_from_other_peoples_records_too(app):
    """Staff wrote the person's name (or just their first name) in the reason of someone else's edit: after the
    erasure neither the log, the read model nor the audit trail has it; the other person's own name stays."""
    load_demo(app, today=date(2026, 11, 22))
    person = people.get(app, A)
    first = person["name"].split()[-2] if len(person["name"].split()) > 2 else person["name"].split()[0]
    other = people.get(app, "6501002")
    people.update(app, "op", "6501002", {"phone": "0811111111"},
                  reason=f"seated next to {person['name']}; ask {first} or {person['name_en']}")
    privacy.erase_person(app, A, "boss", "written request")
    needles = {"name": person["name"].encode(), "name_en": person["name_en"].encode()}
    assert files_with(app.settings.data_path, needles) == {}
    before = snapshot(app)
    app.ingestor.rebuild()
    assert snapshot(app) == before
    reason = app.db.scalar("SELECT reason FROM audit WHERE target = '6501002' AND action = 'person.upserted'")
    assert reason == f"seated next to {privacy.ERASED}; ask {privacy.ERASED} or {privacy.ERASED}"
    logged = [s.event.payload["reason"] for s in app.log.read_after(0, 10_000)
              if s.event.kind == "person.upserted" and s.event.payload["person"]["student_id"] == "6501002"]
    assert logged == [reason]  # in the log too (a first name alone may still be someone else's name elsewhere)
    assert people.get(app, "6501002")["name"] == other["name"]


def test_an_interrupted_erasure_is_finished_under_the_same_pseudonym(app, monkeypatch):
    """Killed between the log rewrite and the change of the read model, an erasure left the read model holding the
    person and no record that it was incomplete; run again it made a second pseudonym. Now its intent is recorded
    first, and finishing it rebuilds the read model from the rewritten log (which no longer says what to change)."""
    made = setup_person(app)
    person = made["person"]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # like kill -9 right after the log was rewritten

    monkeypatch.setattr(erasure, "_mirror_erasure", killed)
    with pytest.raises(KeyboardInterrupt):
        privacy.erase_person(app, A, "boss", "written request")
    pending = privacy.pending_erasure(app)
    assert pending["student_id"] == A and app.db.scalar("SELECT count(*) FROM people WHERE student_id = ?", [A]) == 1
    monkeypatch.undo()
    report = privacy.resume_erasure(app)  # what the app does at its next start
    assert report.pseudonym == pending["pseudonym"] and privacy.pending_erasure(app) is None
    assert app.db.scalar("SELECT count(*) FROM people WHERE student_id = ?", [A]) == 0
    text = log_text(app)
    assert A not in text and person["name"] not in text and report.pseudonym in text
    assert app.db.scalar("SELECT count(*) FROM audit WHERE action = 'person.erased'") == 1
    assert files_with(app.settings.data_path, {"id": A.encode(), "name": person["name"].encode()}) == {}


@pytest.mark.parametrize("keep", [True, False])
def test_erasure_changes_the_read_model_as_a_rebuild_would_on_a_busy_log(app, keep):
    """A school day and a running ceremony (core.workload): the most active person — check-ins, corrections, calls,
    beams, their card's scans, a face enrollment — is erased without a rebuild; a rebuild afterwards gives exactly
    the same tables (person keys of everyone after them renumbered when their attendance goes)."""
    from core.workload import mixed_events

    app.log.append(mixed_events(6_000, seed=4, people=300))
    app.ingestor.pump()
    someone = app.db.scalar("SELECT student_id FROM attendance GROUP BY student_id ORDER BY count(*) DESC, "
                            "student_id LIMIT 1")
    later = app.db.scalar("SELECT count(*) FROM person_keys WHERE person_no > (SELECT person_no FROM person_keys "
                          "WHERE student_id = ?)", [someone])
    assert later > 0 and app.db.scalar("SELECT count(*) FROM ceremony_entries WHERE student_id = ?", [someone])
    app.submit(ev("attendance.corrected", {"session_id": app.db.scalar(
        "SELECT session_id FROM attendance WHERE student_id <> ? LIMIT 1", [someone]), "student_id": "S4000001",
        "status": "present", "reason": f"swapped with {someone} by mistake"}, now_ms()))
    rebuild = app.ingestor.rebuild
    app.ingestor.rebuild = no_rebuild
    report = privacy.erase_person(app, someone, "boss", "request", keep_attendance=keep)
    app.ingestor.rebuild = rebuild
    assert someone not in log_text(app)
    assert app.db.scalar("SELECT count(*) FROM attendance WHERE student_id = ?", [report.pseudonym]) > 0 or not keep
    before = snapshot(app)
    assert someone not in json.dumps(before)
    app.ingestor.rebuild()
    assert snapshot(app) == before


def test_an_erasure_after_their_record_was_deleted_rebuilds(app):
    """A deleted record took rows with it that the rewritten log no longer deletes: that history is rebuilt."""
    setup_person(app)
    app.submit(Event.new("person.deleted", {"student_id": A}, actor="op"))
    report = privacy.erase_person(app, A, "boss", "request")
    assert A not in log_text(app)
    before = snapshot(app)
    assert A not in json.dumps(before) and report.pseudonym in json.dumps(before)
    app.ingestor.rebuild()
    assert snapshot(app) == before
