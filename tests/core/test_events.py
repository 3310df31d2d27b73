"""Every event kind is listed once (core/events.py) and has a fold (core/projections.py); the fold is the same
whether events come one at a time or in a batch."""

from __future__ import annotations

import re
from pathlib import Path

from core import projections
from core.config import PROJECT_ROOT
from core.eventlog import Event
from core.events import KINDS

# Any "family.action" string in the code whose family is an event family (ceremony.*, face.*, …): kinds are also
# passed around as arguments (ceremonies.act(…, "ceremony.skipped")), not only to Event.new.
_QUOTED = re.compile(r'"([a-z]+)\.([a-z_]+)"')
_NOT_KINDS = {"jpg", "jpeg", "png", "csv", "pdf", "zip", "xlsx", "json", "py", "txt"}


def emitted_kinds() -> set[str]:
    families = {name.split(".")[0] for name in KINDS}
    found: set[str] = set()
    for folder in ("core", "receiver", "pages"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            for family, action in _QUOTED.findall(Path(path).read_text(encoding="utf-8")):
                if family in families and action not in _NOT_KINDS:
                    found.add(f"{family}.{action}")
    return found


def test_every_emitted_kind_is_listed_and_every_listed_kind_has_a_fold():
    emitted = emitted_kinds()
    assert {"attendance.recorded", "beam.front", "ceremony.called", "frame.captured", "device.heartbeat"} <= emitted
    assert emitted - set(KINDS) == set(), "kinds the code emits that core/events.py does not list"
    assert [k for k in KINDS if not projections.folds(k)] == [], "listed kinds without a fold"


def test_an_unknown_kind_is_an_ingest_error_not_a_silent_skip(app):
    app.submit(Event.new("made.up", {"x": 1}, actor="x"), Event.new("class.upserted", {"class_id": "C", "name": "C"}))
    assert app.db.scalar("SELECT kind FROM ingest_errors") == "made.up"
    assert "no fold" in app.db.scalar("SELECT error FROM ingest_errors")
    assert app.db.scalar("SELECT count(*) FROM classes") == 1


def read_model(db) -> dict[str, list]:
    from core.schema import READ_MODEL_TABLES

    out = {}
    for table in READ_MODEL_TABLES:
        if table in ("ingest_state", "ingest_errors"):
            continue
        df = db.query(f"SELECT * FROM {table}")
        out[table] = sorted(map(repr, df.astype(object).where(df.notna(), None).itertuples(index=False)))
    return out


def test_set_based_folding_gives_the_tables_of_one_event_at_a_time(tmp_path):
    """The batch folder reorders work for speed (one statement per kind); the tables must end exactly as if
    every event had been folded alone, in log order — check-ins, a running ceremony's calls and beams, RFID,
    enrollments, corrections, End attendance in the middle, heartbeats."""
    from core.db import Database
    from core.workload import mixed_events

    events = mixed_events(1_500, seed=3, people=300)
    # The orderings that set-based folding must keep, on one record: a correction before a check-in (the check-in
    # then changes nothing), two corrections in a row (the last one's status stays, the first one's time),
    # a check-in then a correction, and End attendance between two check-ins of one session.
    session = next(e.payload for e in events if e.kind == "session.scheduled")
    members = next(e.payload["members"] for e in events if e.kind == "class.upserted"
                   and e.payload["class_id"] == session["class_id"])
    at = events[-1].ts_ms
    sid, s1, s2, s3 = session["session_id"], members[-1], members[-2], members[-3]

    def ev(n: int, kind: str, payload: dict, actor: str | None = "op") -> Event:
        return Event(id=f"edge:{n}", kind=kind, ts_ms=at + n, payload=payload, actor=actor)

    def checkin(n: int, student: str) -> Event:
        return ev(n, "attendance.recorded", {"session_id": sid, "student_id": student, "status": "present",
                                             "method": "face", "evidence": {"crop_token": f"c{n}"}}, actor=None)

    def correct(n: int, student: str, status: str) -> Event:
        return ev(n, "attendance.corrected", {"session_id": sid, "student_id": student, "status": status,
                                              "reason": f"r{n}"})

    events += [correct(1, s1, "excused"), checkin(2, s1), correct(3, s2, "absent"), correct(4, s2, "present"),
               checkin(5, s3), correct(6, s3, "late"), ev(7, "session.ended", {"session_id": sid}), checkin(8, s2),
               checkin(9, members[-4])]
    # Classes replaced and renamed in one run; a check-in before its session is scheduled; a session moved after
    # its check-ins, then moved back; a new session scheduled twice.
    later = {"session_id": "LATE-1", "class_id": session["class_id"], "starts_at_ms": at, "ends_at_ms": at + 9_000_000}
    events += [ev(20, "class.upserted", {"class_id": "K1", "name": "One", "members": [s1, s2]}),
               ev(21, "class.upserted", {"class_id": "K1", "name": "One again"}),
               ev(22, "class.upserted", {"class_id": "K2", "name": "Two", "members": [s3]}),
               ev(23, "class.upserted", {"class_id": "K1", "name": "One, last", "members": [s3, s1]}),
               ev(24, "attendance.recorded", {"session_id": "LATE-1", "student_id": s1, "status": "present",
                                              "method": "qr"}, actor=None),
               ev(25, "session.scheduled", later), ev(26, "session.scheduled", {**later, "starts_at_ms": at + 60_000}),
               ev(27, "session.scheduled", {**session, "starts_at_ms": session["starts_at_ms"] + 3600_000}),
               ev(28, "session.scheduled", session),
               ev(29, "session.scheduled", {**session, "session_id": "NEW-2", "starts_at_ms": at}),
               ev(30, "session.started", {"session_id": "NEW-2", "late_after_min": 5, "liveness": "head_turn"}),
               ev(31, "session.started", {"session_id": "NEW-2", "late_after_min": 7}, actor="op2"),
               ev(32, "session.scheduled", {**session, "session_id": "NEW-2", "starts_at_ms": at + 1000,
                                            "liveness": "off"}),
               ev(33, "session.started", {"session_id": sid, "late_after_min": 3})]  # ended: stays ended
    kinds = {e.kind for e in events}
    assert {"attendance.recorded", "beam.front", "beam.back", "ceremony.called", "face.enrolled", "session.ended",
            "attendance.corrected", "rfid.scan", "device.heartbeat"} <= kinds
    one, many = Database(tmp_path / "one.duckdb"), Database(tmp_path / "many.duckdb")
    try:
        with one.write() as cur:
            for e in events:
                projections.apply(cur, e)
        for start in range(0, len(events), 700):
            with many.write() as cur:
                projections.fold(cur, events[start:start + 700])
        single, batched = read_model(one), read_model(many)
        assert len(single["attendance"]) > 100 and len(single["ceremony_flags"]) > 0
        assert sum(r.count("'received'") for r in single["ceremony_entries"]) > 10
        for table in single:
            assert batched[table] == single[table], table
    finally:
        one.close()
        many.close()
