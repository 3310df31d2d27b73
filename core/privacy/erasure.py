"""Erasure of a person: the log rewritten so neither their id nor any personal field survives, the read model
changed row by row in the same step, the file copied afresh; an interrupted erasure is finished at the next start."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from core import projections
from core.eventlog import Event, now_ms
from core.privacy.common import ERASED, PrivacyError, forget_face, iter_log, rewrite_events, tombstone
from core.projections import PERSON_FIELDS
from core.schema import READ_MODEL_TABLES
from core.services import Rollcall

# Fields of a person that identify them; department and ceremony order do not, alone, and are not kept either
PERSONAL_FIELDS = tuple(f for f in PERSON_FIELDS if f not in ("department", "ceremony_order"))
# Events that exist only because of the person: erasure leaves a tombstone in their place.
_PERSONAL_KINDS = {"consent.recorded", "consent.revoked", "face.enrolled", "face.removed", "face.not_this_person",
                   "person.upserted", "person.deleted"}
_ATTENDANCE_KINDS = {"attendance.recorded", "attendance.corrected", "ceremony.lineup_checked"}
# Keys whose values are free text typed by staff: a name in them is replaced too.
_FREE_TEXT = {"reason", "detail", "note", "comment", "error", "caption", "message", "display_name"}
# Titles are not part of a name worth scrubbing on their own (every other note has "Mr." or "นาย").
_TITLES = {"นาย", "นาง", "นางสาว", "ด.ช.", "ด.ญ.", "เด็กชาย", "เด็กหญิง", "Mr.", "Mrs.", "Ms.", "Miss", "Dr."}


@dataclass
class ErasureReport:
    pseudonym: str
    events_changed: int
    tombstones: int
    photos_deleted: int
    keep_attendance: bool
    seconds: float = 0.0


@dataclass
class _Eraser:
    """Decides, event by event, what erasing one person leaves of it."""

    student_id: str
    pseudonym: str
    keep_attendance: bool
    personal: set[str] = field(default_factory=set)  # their names, e-mail, phone, tag... (scrubbed from free text)
    usernames: set[str] = field(default_factory=set)  # their student accounts
    frames: set[str] = field(default_factory=set)  # camera frames that showed them
    mentioned: bool = False
    deleted: bool = False  # their record was deleted once: what that deleted is beyond a direct mirror
    tombstones: int = 0
    _tag: str | None = None  # their RFID tag at this point of the log

    def __post_init__(self) -> None:
        self._id = re.compile(rf"(?<![0-9A-Za-z]){re.escape(self.student_id)}(?![0-9A-Za-z])")

    def _person_of(self, e: Event) -> str | None:
        p = e.payload
        if e.kind == "person.upserted" and isinstance(p.get("person"), dict):
            return p["person"].get("student_id")
        value = p.get("student_id")
        return value if isinstance(value, str) else None

    def _their_rows(self, e: Event) -> list[dict]:
        if e.kind == "roster.imported":
            return [r for r in e.payload.get("rows", []) if r.get("student_id") == self.student_id]
        if e.kind == "person.upserted" and self._person_of(e) == self.student_id:
            return [e.payload["person"]]
        return []

    def learn_person(self, values: dict) -> None:
        for key in PERSONAL_FIELDS:
            value = values.get(key)
            if isinstance(value, str) and len(value.strip()) >= 3:
                self.personal.add(value.strip())
            if key in ("name", "name_en") and isinstance(value, str):  # "สมชาย" alone in a note names them too
                self.personal |= {part for part in value.split() if len(part) >= 3 and part not in _TITLES}

    def learn(self, e: Event) -> None:
        """First pass: what identifies the person anywhere in the log (names over time, accounts, frames)."""
        p = e.payload
        for row in self._their_rows(e):
            self.learn_person(row)
        if e.kind in ("user.created", "user.updated") and p.get("student_id") == self.student_id:
            self.usernames.add(p["username"])
            if isinstance(p.get("display_name"), str) and len(p["display_name"].strip()) >= 3:
                self.personal.add(p["display_name"].strip())
        if e.kind == "frame.processed" and self.student_id in (p.get("known") or []) and p.get("frame_id"):
            self.frames.add(p["frame_id"])
        if e.kind == "attendance.recorded" and p.get("student_id") == self.student_id and (
                frame_id := (p.get("evidence") or {}).get("frame_id")):
            self.frames.add(frame_id)
        if self._person_of(e) == self.student_id or self.student_id in e.id.split(":"):
            self.mentioned = True
        if e.kind == "person.deleted" and p.get("student_id") == self.student_id:
            self.deleted = True

    def change(self, e: Event) -> Event | None:
        """Second pass, in log order: the event to keep instead, or None when it does not concern the person."""
        p, who = e.payload, self._person_of(e)
        for row in self._their_rows(e):  # follow their RFID tag over time
            if "rfid_tag" in row and (e.kind == "person.upserted" or "rfid_tag" in e.payload.get("columns", [])):
                self._tag = (row.get("rfid_tag") or "").upper() or None
        if ((e.kind in _PERSONAL_KINDS and who == self.student_id)
                or (e.kind.startswith(("user.", "auth.")) and p.get("username") in self.usernames)
                or (e.kind in _ATTENDANCE_KINDS and who == self.student_id and not self.keep_attendance)):
            self.tombstones += 1
            return tombstone(e)
        new = dict(p)
        if e.kind == "roster.imported":
            new["rows"] = [r for r in p.get("rows", []) if r.get("student_id") != self.student_id]
        if e.kind == "class.upserted" and not self.keep_attendance and self.student_id in (p.get("members") or []):
            new["members"] = [m for m in p["members"] if m != self.student_id]
        if e.kind == "frame.captured" and e.id in self.frames and "jpeg_b64" in p:
            del new["jpeg_b64"]
            new["jpeg_bytes"] = len(p["jpeg_b64"]) * 3 // 4
        if e.kind == "rfid.scan" and self._tag and str(p.get("tag", "")).upper() == self._tag:
            del new["tag"]  # the scan still names the (pseudonymous) graduate, so the ceremony replays the same
            new["student_id"] = self.student_id
        if e.kind == "attendance.recorded" and who == self.student_id and (p.get("evidence") or {}).get("crop_token"):
            new["evidence"] = {k: v for k, v in p["evidence"].items() if k != "crop_token"}
        scrubbed = Event(
            id=":".join(self.pseudonym if part == self.student_id else part for part in e.id.split(":")),
            kind=e.kind, ts_ms=e.ts_ms, payload=self._scrub(new, None),
            actor=self.pseudonym if e.actor == self.student_id or e.actor in self.usernames else e.actor,
            source=e.source)
        return None if scrubbed == e else scrubbed

    def scrub_text(self, text: str) -> str:
        text = self._id.sub(self.pseudonym, text)
        for value in sorted(self.personal, key=len, reverse=True):
            if value.isascii():  # a Latin name only as a whole word ("Ann", not "Annual"), in any case
                text = re.sub(rf"(?<![A-Za-z]){re.escape(value)}(?![A-Za-z])", ERASED, text, flags=re.IGNORECASE)
            else:  # Thai has no spaces between words
                text = text.replace(value, ERASED)
        return text

    def _scrub(self, value: Any, key: str | None) -> Any:
        """Their id becomes the pseudonym everywhere; their names go from free text (other people's name fields
        stay as they are)."""
        if isinstance(value, dict):
            return {k: self._scrub(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v, key) for v in value]
        if not isinstance(value, str):
            return value
        if value == self.student_id or (key == "username" and value in self.usernames):
            return self.pseudonym
        if key in _FREE_TEXT:  # staff's free text, in anyone's record: "moved next to <their name>"
            return self.scrub_text(value)
        return self._id.sub(self.pseudonym, value)


def _intent_path(app: Rollcall) -> Path:
    return app.settings.data_path / "erasure-pending.json"


def pending_erasure(app: Rollcall) -> dict | None:
    """The erasure that was under way when the app stopped, if any (its intent is written before the log is)."""
    path = _intent_path(app)
    return json.loads(path.read_text()) if path.exists() else None


def resume_erasure(app: Rollcall) -> ErasureReport | None:
    """Finish an erasure that a crash or a kill interrupted (called at start-up): same person, same pseudonym."""
    pending = pending_erasure(app)
    if pending is None:
        return None
    return erase_person(app, pending["student_id"], pending["actor"], pending["reason"], pending["keep"])


def erase_person(app: Rollcall, student_id: str, actor: str, reason: str,
                 keep_attendance: bool | None = None) -> ErasureReport:
    """Erase a person: their key is shredded, kept photos deleted, and the log rewritten so that neither their id
    nor any personal field survives — their id becomes a pseudonym everywhere, their own events (person, consent,
    faces, account) become tombstones, frames that showed them lose the image, check-ins lose the face crop.
    Attendance stays under the pseudonym (counts and rates do not change) or, with keep_attendance False, goes
    with their class memberships; ceremony places always stay under the pseudonym (a past ceremony's beams were
    matched to graduates in order). The read model is changed row by row in the same step and its file copied
    afresh, so DuckDB keeps no trace either. One person.erased audit entry keeps the pseudonym, who, when and why."""
    student_id = (student_id or "").strip()
    if not (reason or "").strip():
        raise PrivacyError("Say why the person is erased (e.g. their written request and its date).")
    keep = app.settings.erasure_keeps_attendance if keep_attendance is None else keep_attendance
    started = time.monotonic()
    with app.maintenance:
        app.ingestor.pump()
        pending = pending_erasure(app)
        if pending and pending["student_id"] != student_id:
            raise PrivacyError("An earlier erasure was interrupted and is being finished first; try again shortly.")
        # An interrupted erasure goes on under the pseudonym it had started with (part of the log may carry it).
        eraser = _Eraser(student_id, pending["pseudonym"] if pending else f"erased-{secrets.token_hex(6)}", keep)
        eraser.personal |= set(pending["personal"] if pending else ())
        eraser.usernames |= set(pending["usernames"] if pending else ())
        person = app.db.query("SELECT * FROM people WHERE student_id = ?", [student_id])
        if not person.empty:
            eraser.learn_person(person.iloc[0].to_dict())
        for username in app.db.query("SELECT username FROM users WHERE student_id = ?", [student_id])["username"]:
            eraser.usernames.add(username)
        for stored in iter_log(app.log):
            eraser.learn(stored.event)
        if person.empty and not eraser.mentioned and not pending:
            raise PrivacyError(f"No person with student id {student_id!r}.")
        # The intent first: a kill from here on is finished at the next start, under the same pseudonym.
        _intent_path(app).write_text(json.dumps({
            "student_id": student_id, "pseudonym": eraser.pseudonym, "keep": keep, "actor": actor, "reason": reason,
            "personal": sorted(eraser.personal), "usernames": sorted(eraser.usernames)}, ensure_ascii=False))
        photos = forget_face(app, student_id)  # from now on no camera recognises them
        # The read model is changed row by row in the same step as the log; a rebuild only finishes an interrupted
        # erasure (its rewritten log no longer shows what to change) or a history the mirror does not follow.
        direct = not pending and not eraser.deleted
        changed, after = 0, 0
        for _ in range(5):  # a worker may still have named them while the log was being rewritten: go again
            if direct:
                app.ingestor.pump()  # the mirror changes the rows folded from the events it rewrites
            upto = app.ingestor.cursor() if direct else app.log.head()
            changes = {}
            for stored in iter_log(app.log, after):
                if stored.position > upto:
                    break
                eraser.learn(stored.event)
                if (new := eraser.change(stored.event)) is not None:
                    changes[stored.event.id] = new
                after = stored.position
            with app.ingestor.paused():  # the log rewritten and the read model mirrored as one step
                changed += rewrite_events(app.log, changes)
                if direct:
                    _mirror_erasure(app, eraser, changes)
            if not changes:
                break
        if direct:
            app.ingestor.compact()  # the rows changed leave no bytes in the file's freed blocks
        else:
            app.ingestor.rebuild()
        app.keys.erase(student_id)  # in case something encrypted for them meanwhile
        if (faces := app.loaded_faces) is not None:
            faces.forget(student_id)
        app.submit(Event(id=f"erased:{eraser.pseudonym}", kind="person.erased", ts_ms=now_ms(), actor=actor,
                         payload={"student_id": eraser.pseudonym, "keep_attendance": keep, "events_changed": changed,
                                  "reason": eraser.scrub_text(reason.strip())}))
        _intent_path(app).unlink(missing_ok=True)  # the intent held their names: it goes last
    return ErasureReport(eraser.pseudonym, changed, eraser.tombstones, photos, keep, time.monotonic() - started)


# Columns of the read model that hold an actor (changed only when it is the person or their account) or staff's free
# text (their names scrubbed); every other text column is changed like any string of an event: their id becomes the
# pseudonym. Event ids are mapped to the rewritten events' ids; the audit trail is written again from the events.
_ACTOR_COLUMNS = {("attendance", "corrected_by"), ("consents", "recorded_by"), ("consents", "revoked_by"),
                  ("sessions", "started_by")}
_FREE_TEXT_COLUMNS = {("attendance", "correction_reason"), ("consents", "revoke_reason"), ("alerts", "detail"),
                      ("users", "display_name")}
_EVENT_ID_COLUMNS = {("alerts", "alert_id")}  # besides every `event_id`


def _mirror_erasure(app: Rollcall, eraser: _Eraser, changes: dict[str, Event]) -> None:
    """Change the read model as folding the rewritten events would have: what was theirs goes, their id becomes the
    pseudonym, their names leave staff's notes. tests/core/test_privacy.py rebuilds afterwards and compares."""
    sid = eraser.student_id
    with app.db.write() as cur:
        # Every pass (a worker may have folded something of theirs since the last): what was theirs goes.
        for table in ("people", "consents", "face_templates", "face_negatives", "evidence_crops"):
            cur.execute(f"DELETE FROM {table} WHERE student_id = ?", [sid])
        cur.execute("DELETE FROM users WHERE student_id = ? OR username IN (SELECT unnest(?))",
                    [sid, sorted(eraser.usernames) or [""]])
        if not eraser.keep_attendance:
            for table in ("attendance", "class_members", "lineup_checks"):
                cur.execute(f"DELETE FROM {table} WHERE student_id = ?", [sid])
            # Keys are handed out in order of first check-in: without theirs, everyone after moves up one.
            for (gone,) in cur.execute("DELETE FROM person_keys WHERE student_id = ? RETURNING person_no",
                                       [sid]).fetchall():
                cur.execute("UPDATE person_keys SET person_no = person_no - 1 WHERE person_no > ?", [gone])
                cur.execute("UPDATE attendance SET person_no = person_no - 1 WHERE person_no > ?", [gone])
        renamed = pd.DataFrame([(old, new.id) for old, new in changes.items() if new.id != old],
                               columns=["old", "new"], dtype=object)
        for table, column in _text_columns(cur):
            if table == "audit":
                continue
            if column == "event_id" or (table, column) in _EVENT_ID_COLUMNS:
                if len(renamed):
                    cur.register("renamed", renamed)
                    cur.execute(f"UPDATE {table} SET {column} = r.new FROM renamed r WHERE {table}.{column} = r.old")
                    cur.unregister("renamed")
                continue
            _rewrite_column(cur, eraser, table, column)
        for new in changes.values():  # an RFID scan of their card no longer shows the tag (a row's detail is the tag)
            if new.kind == "rfid.scan" and "tag" not in new.payload:
                cur.execute("UPDATE device_events SET detail = NULL WHERE event_id = ?", [new.id])
        ids = pd.DataFrame({"id": list(changes)}, dtype=object)
        cur.register("changed", ids)
        cur.execute("DELETE FROM audit WHERE event_id IN (SELECT id FROM changed)")
        cur.unregister("changed")
        projections.write_audit(cur, [new for new in changes.values() if projections.audited(new)])


def _text_columns(cur: Any) -> list[tuple[str, str]]:
    tables = set(READ_MODEL_TABLES)
    return [(t, c) for t, c in cur.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main' AND data_type = 'VARCHAR' "
        "AND database_name = current_database() ORDER BY table_name, column_index").fetchall() if t in tables]


def _rewrite_column(cur: Any, eraser: _Eraser, table: str, column: str) -> None:
    """Each distinct value that names the person, changed as the log rewrite changed the event it came from."""
    change: Callable[[str], str]
    if (table, column) in _FREE_TEXT_COLUMNS:
        values = cur.execute(f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL").fetchall()
        change = eraser.scrub_text
    elif (table, column) in _ACTOR_COLUMNS:
        named = sorted({eraser.student_id, *eraser.usernames})
        values = cur.execute(f"SELECT DISTINCT {column} FROM {table} WHERE {column} IN (SELECT unnest(?))",
                             [named]).fetchall()
        def change(value: str) -> str:
            return eraser.pseudonym
    else:
        values = cur.execute(f"SELECT DISTINCT {column} FROM {table} WHERE strpos({column}, ?) > 0",
                             [eraser.student_id]).fetchall()
        def change(value: str) -> str:
            return eraser.pseudonym if value == eraser.student_id else eraser._id.sub(eraser.pseudonym, value)
    pairs = [(old, new) for (old,) in values if (new := change(old)) != old]
    if pairs:
        cur.register("changed_values", pd.DataFrame(pairs, columns=["old", "new"], dtype=object))
        cur.execute(f"UPDATE {table} SET {column} = v.new FROM changed_values v WHERE {table}.{column} = v.old")
        cur.unregister("changed_values")
