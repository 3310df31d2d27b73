"""Privacy: the consent register, retention of each kind of personal data, and erasure of a person.

The event log is append-only with one exception, `EventLog.rewrite`, which this module alone uses:
retention redacts what expired (a frame's image, a check-in's face crop, old attendance, idle face
templates) and erasure takes a person out of every event. What a rewrite changes is mirrored in the read
model in the same step, row by row, and the read model file is then copied afresh (no bytes of removed rows
stay in its freed blocks); a rebuild always gives the tables the app shows (the tests compare). Biometric data is
encrypted with a key per person (core.keys): shredding that key makes every copy unreadable, wherever it is.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core import projections
from core.config import Settings
from core.db import READ_MODEL_TABLES
from core.eventlog import Event, EventLog, StoredEvent, now_ms
from core.projections import PERSON_FIELDS
from core.services import Rollcall
from core.timeutil import from_ms, to_ms
from core.workers import Poller

DAY_MS = 86_400_000
ERASED = "[erased]"  # what a personal string becomes in free text (a reason, a note)
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


class PrivacyError(ValueError):
    """A refused privacy action, with a message fit to show."""


# --- the log, read and rewritten -------------------------------------------------------------

def iter_log(log: EventLog, after: int = 0, batch: int = 1000) -> Iterator[StoredEvent]:
    while chunk := log.read_after(after, batch):
        yield from chunk
        after = chunk[-1].position


def tombstone(event: Event) -> Event:
    """What is left of an event that had to go: its time and kind, under a new id, with no actor or data."""
    return Event(id=f"redacted:{uuid.uuid4().hex}", kind="redacted", ts_ms=event.ts_ms, payload={"was": event.kind},
                 actor=None, source="system")


def _rewrite(log: EventLog, changes: dict[str, Event], chunk: int = 500) -> int:
    items = list(changes.items())
    return sum(log.rewrite(dict(items[n:n + chunk])) for n in range(0, len(items), chunk))


def photo_folder(settings: Settings, student_id: str) -> Path:
    """Where kept enrollment photos of a person are (encrypted; only with keep_photos on)."""
    return settings.data_path / "photos" / hashlib.sha256(student_id.encode()).hexdigest()[:20]


def _forget_face(app: Rollcall, student_id: str) -> int:
    """Shred the person's key, delete their kept photos, and make the running face service forget them."""
    app.keys.erase(student_id)
    folder = photo_folder(app.settings, student_id)
    photos = len(list(folder.glob("*"))) if folder.exists() else 0
    shutil.rmtree(folder, ignore_errors=True)
    if (faces := app.loaded_faces) is not None:
        faces.forget(student_id)
    return photos


# --- consent register -------------------------------------------------------------------------

def consent_register(app: Rollcall, text: str = "", status: str = "all") -> pd.DataFrame:
    """Who consented, when, how, for what, and whether it was revoked. status: all | in force | revoked."""
    where, params = ["true"], []
    if status == "in force":
        where.append("c.revoked_at IS NULL")
    elif status == "revoked":
        where.append("c.revoked_at IS NOT NULL")
    if text.strip():
        where.append("(lower(c.student_id) LIKE ? OR lower(coalesce(p.name, '')) LIKE ? "
                     "OR lower(coalesce(p.name_en, '')) LIKE ?)")
        params += [f"%{text.strip().lower()}%"] * 3
    return app.db.query(
        "SELECT c.student_id, p.name, p.name_en, CASE WHEN c.revoked_at IS NULL THEN 'in force' ELSE 'revoked' END "
        "AS status, c.method, c.purpose, c.recorded_by, c.recorded_at, c.revoked_at, c.revoked_by, c.revoke_reason, "
        "coalesce(p.photo_count, 0) AS photos FROM consents c LEFT JOIN people p USING (student_id) "
        f"WHERE {' AND '.join(where)} ORDER BY c.recorded_at DESC, c.student_id", params)


def revoke_consent(app: Rollcall, student_id: str, actor: str, reason: str) -> None:
    """End consent: templates and hard negatives go, the key is shredded (templates, check-in crops and kept
    photos become unreadable), the gallery forgets the person now. Enrolling needs consent recorded again."""
    if not (reason or "").strip():
        raise PrivacyError("Say why consent is revoked (e.g. the student asked in writing).")
    with app.maintenance:
        row = app.db.query("SELECT revoked_at FROM consents WHERE student_id = ?", [student_id])
        if row.empty or not pd.isna(row.iloc[0]["revoked_at"]):
            raise PrivacyError(f"No consent in force for {student_id}.")
        app.submit(Event.new("consent.revoked", {"student_id": student_id, "reason": reason.strip()}, actor=actor))
        _forget_face(app, student_id)


# --- retention --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetentionRule:
    kind: str
    label: str
    days: int  # 0 = kept until erased


def retention_rules(settings: Settings) -> list[RetentionRule]:
    return [
        RetentionRule("frames", "Device camera images", settings.retention_frame_days),
        RetentionRule("crops", "Check-in face crops", settings.retention_crop_days),
        RetentionRule("templates", "Face templates (days not recognised)", settings.retention_template_idle_days),
        RetentionRule("attendance", "Attendance records", settings.retention_attendance_days),
    ]


@dataclass
class PurgeResult:
    counts: dict[str, int]
    cutoffs: dict[str, datetime | None]
    event_id: str | None = None  # the retention.purged event; None when nothing had expired

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _at_ms(e: Event) -> int:
    return int(e.payload.get("at_ms") or e.ts_ms)


def purge_expired(app: Rollcall, now: datetime | None = None, actor: str = "retention") -> PurgeResult:
    """Remove what outlived its retention period, from the log and the read model; one retention.purged event
    records the counts and cutoffs. Nothing expired: nothing changes and no event is appended (idempotent)."""
    now = now or datetime.now(UTC)
    now_ms = to_ms(now)
    rules = {r.kind: r.days for r in retention_rules(app.settings)}
    cut = {kind: (now_ms - days * DAY_MS if days else None) for kind, days in rules.items()}
    counts = dict.fromkeys(("frames", "crops", "attendance", "templates", "negatives"), 0)
    with app.maintenance:
        app.ingestor.pump()
        db = app.db
        old_sessions: set[str] = set()
        if cut["attendance"]:
            old_sessions = set(db.query("SELECT session_id FROM sessions WHERE starts_at < ?",
                                        [_dt(cut["attendance"])])["session_id"])
        idle: dict[str, str] = {}  # template id -> student id
        negatives: set[str] = set()
        if cut["templates"]:
            # Last use: the newest enrollment, or the last check-in the face made (a recognition has a score).
            rows = db.query(
                "WITH newest AS (SELECT student_id, max(created_at) AS at FROM face_templates GROUP BY student_id), "
                "seen AS (SELECT student_id, max(checked_at) AS at FROM attendance WHERE score IS NOT NULL "
                "GROUP BY student_id) "
                "SELECT t.template_id, t.student_id FROM face_templates t JOIN newest n USING (student_id) "
                "LEFT JOIN seen s USING (student_id) WHERE greatest(n.at, coalesce(s.at, n.at)) < ?",
                [_dt(cut["templates"])])
            idle = dict(zip(rows["template_id"], rows["student_id"], strict=True))
            if idle:
                negatives = set(db.query("SELECT event_id FROM face_negatives WHERE student_id IN (SELECT unnest(?))",
                                         [sorted(set(idle.values()))])["event_id"])
        frames_done = int(db.scalar("SELECT cursor FROM processor_state WHERE name = 'frames'") or 0)
        changes: dict[str, Event] = {}
        dropped: set[str] = set()  # ids of events tombstoned (their audit rows go too)
        crop_events: set[str] = set()

        def consider(stored: StoredEvent) -> None:
            e, p = stored.event, stored.event.payload
            if (e.kind == "frame.captured" and cut["frames"] and "jpeg_b64" in p and e.ts_ms < cut["frames"]
                    and stored.position <= frames_done):  # a frame the frame worker has not looked at yet stays
                kept = {k: v for k, v in p.items() if k != "jpeg_b64"}
                changes[e.id] = _replace(e, payload={**kept, "jpeg_bytes": len(p["jpeg_b64"]) * 3 // 4})
                counts["frames"] += 1
            elif e.kind in ("attendance.recorded", "attendance.corrected") and p.get("session_id") in old_sessions:
                changes[e.id] = tombstone(e)
                dropped.add(e.id)
                counts["attendance"] += 1
            elif (e.kind == "attendance.recorded" and cut["crops"] and (p.get("evidence") or {}).get("crop_token")
                  and _at_ms(e) < cut["crops"]):
                evidence = {k: v for k, v in p["evidence"].items() if k != "crop_token"}
                changes[e.id] = _replace(e, payload={**p, "evidence": evidence})
                crop_events.add(e.id)
                counts["crops"] += 1
            elif e.kind == "face.enrolled" and p.get("template_id") in idle:
                changes[e.id] = tombstone(e)
                dropped.add(e.id)
                counts["templates"] += 1
            elif e.kind == "face.not_this_person" and e.id in negatives:
                changes[e.id] = tombstone(e)
                dropped.add(e.id)
                counts["negatives"] += 1

        head = 0
        for stored in iter_log(app.log):
            consider(stored)
            head = stored.position
        with app.ingestor.paused():  # what was appended meanwhile, then the rewrite and its mirror as one step
            for stored in iter_log(app.log, head):
                consider(stored)
            if changes:
                _rewrite(app.log, changes)
            with db.write() as cur:
                if old_sessions:
                    cur.execute("DELETE FROM evidence_crops WHERE session_id IN (SELECT unnest(?))",
                                [sorted(old_sessions)])
                    cur.execute("DELETE FROM attendance WHERE session_id IN (SELECT unnest(?))", [sorted(old_sessions)])
                if cut["crops"]:
                    cur.execute("DELETE FROM evidence_crops WHERE at_time < ?", [_dt(cut["crops"])])
                if idle:
                    cur.execute("DELETE FROM face_templates WHERE template_id IN (SELECT unnest(?))", [sorted(idle)])
                    for sid in set(idle.values()):
                        cur.execute("UPDATE people SET photo_count = (SELECT count(*) FROM face_templates WHERE "
                                    "student_id = ?) WHERE student_id = ?", [sid, sid])
                if negatives:
                    cur.execute("DELETE FROM face_negatives WHERE event_id IN (SELECT unnest(?))", [sorted(negatives)])
                if dropped:
                    cur.execute("DELETE FROM audit WHERE event_id IN (SELECT unnest(?))", [sorted(dropped)])
        cutoffs = {kind: (_dt(ms) if ms else None) for kind, ms in cut.items()}
        result = PurgeResult(counts, cutoffs)
        if not changes:
            return result
        event = Event.new("retention.purged", {
            "counts": {k: n for k, n in counts.items() if n},
            "cutoffs": {k: v.isoformat() for k, v in cutoffs.items() if v is not None},
        }, actor=actor, source="worker")
        app.submit(event)
        result.event_id = event.id
        if counts["crops"] + counts["attendance"] + counts["templates"] + counts["negatives"]:
            app.ingestor.compact()  # deleted rows leave no bytes in the file's freed blocks (frames never were in it)
        if (faces := app.loaded_faces) is not None:
            for sid in set(idle.values()):
                faces.forget(sid)
        return result


def _dt(ms: int) -> datetime:
    return from_ms(ms)


def _replace(e: Event, **changes: Any) -> Event:
    return Event(**{"id": e.id, "kind": e.kind, "ts_ms": e.ts_ms, "payload": e.payload, "actor": e.actor,
                    "source": e.source, **changes})


def last_purges(app: Rollcall, limit: int = 10) -> pd.DataFrame:
    return app.db.query("SELECT at_time, actor, detail FROM audit WHERE action = 'retention.purged' "
                        f"ORDER BY at_time DESC LIMIT {int(limit)}")


class RetentionWorker(Poller):
    """Purges what expired, in the app process, every `retention_check_minutes`."""

    name = "rollcall-retention"

    def __init__(self, app: Rollcall):
        super().__init__()
        self.app = app
        self._due = 0.0

    def tick(self) -> int:
        if time.monotonic() < self._due:
            return 0
        self._due = time.monotonic() + self.app.settings.retention_check_minutes * 60
        return purge_expired(self.app).total


# --- erasure ----------------------------------------------------------------------------------

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
        if e.kind == "frame.processed" and self.student_id in (p.get("known") or []):
            self.frames.add(p.get("frame_id"))
        if e.kind == "attendance.recorded" and p.get("student_id") == self.student_id:
            self.frames.add((p.get("evidence") or {}).get("frame_id"))
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
        photos = _forget_face(app, student_id)  # from now on no camera recognises them
        # The read model is changed row by row in the same step as the log; a rebuild only finishes an interrupted
        # erasure (its rewritten log no longer shows what to change) or a history the mirror does not follow.
        direct = not pending and not eraser.deleted
        changed, after = 0, 0
        for _ in range(5):  # a worker may still have named them while the log was being rewritten: go again
            if direct:
                app.ingestor.pump()  # the mirror changes the rows folded from the events it rewrites
            upto = app.ingestor.cursor() if direct else app.log.head()
            changes, originals = {}, {}
            for stored in iter_log(app.log, after):
                if stored.position > upto:
                    break
                eraser.learn(stored.event)
                if (new := eraser.change(stored.event)) is not None:
                    changes[stored.event.id] = new
                    originals[stored.event.id] = stored.event
                after = stored.position
            with app.ingestor.paused():  # the log rewritten and the read model mirrored as one step
                changed += _rewrite(app.log, changes)
                if direct:
                    _mirror_erasure(app, eraser, changes, originals)
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


def _mirror_erasure(app: Rollcall, eraser: _Eraser, changes: dict[str, Event], originals: dict[str, Event]) -> None:
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
            gone = _first_value(cur.execute("DELETE FROM person_keys WHERE student_id = ? RETURNING person_no",
                                            [sid]))
            if gone is not None:
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
        for old, new in changes.items():  # an RFID scan of their card no longer shows the tag
            if old in originals and originals[old].kind == "rfid.scan" and "tag" not in new.payload:
                cur.execute("UPDATE device_events SET detail = NULL WHERE event_id = ?", [new.id])
        ids = pd.DataFrame({"id": list(changes)}, dtype=object)
        cur.register("changed", ids)
        cur.execute("DELETE FROM audit WHERE event_id IN (SELECT id FROM changed)")
        cur.unregister("changed")
        projections.write_audit(cur, [new for new in changes.values() if projections.audited(new)])


def _first_value(result: Any) -> Any:
    rows = result.fetchall()
    return rows[0][0] if rows else None


def _text_columns(cur: Any) -> list[tuple[str, str]]:
    tables = set(READ_MODEL_TABLES)
    return [(t, c) for t, c in cur.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main' AND data_type = 'VARCHAR' "
        "AND database_name = current_database() ORDER BY table_name, column_index").fetchall() if t in tables]


def _rewrite_column(cur: Any, eraser: _Eraser, table: str, column: str) -> None:
    """Each distinct value that names the person, changed as the log rewrite changed the event it came from."""
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


# --- the written policy ---------------------------------------------------------------------------

def _kept(days: int) -> str:
    if not days:
        return "until the person is erased"
    years = days / 365.25
    if years < 0.95:
        return f"{days} days"
    return f"{days} days (about {round(years)} year{'s' if round(years) > 1 else ''})"


def policy(settings: Settings) -> pd.DataFrame:
    """What is stored, why, for how long and who sees it: the periods come from the settings in force."""
    idle = settings.retention_template_idle_days
    template_life = "while consent is in force; removed at once when it is revoked"
    if idle:
        template_life += f", or after {_kept(idle)} without being recognised"
    rows = [
        {"Data": "Roster details",
         "What is stored": ("name (Thai, English), student id, department, guardian, phone, e-mail, ceremony order, "
                            "RFID card, pronunciation note"),
         "Why": "run classes and ceremonies; contact the person",
         "Kept for": "while the person is on the roster; removed by erasure",
         "Who can see it": "admin, operator; viewers see names in statistics"},
        {"Data": "Consent",
         "What is stored": "how and when consent was given, for what, who recorded it; a revocation with its reason",
         "Why": "biometric data needs written consent (BIPA; GDPR art. 9)",
         "Kept for": "with the person; removed by erasure", "Who can see it": "admin"},
        {"Data": "Face templates",
         "What is stored": "numbers computed from enrollment photos (not the photos), encrypted with a key per person",
         "Why": "recognise the person at check-in and on stage", "Kept for": template_life,
         "Who can see it": "no one (the matcher only)"},
        {"Data": "Enrollment photos",
         "What is stored": "only when an admin turns on keep_photos; encrypted with the person's key",
         "Why": "enroll again after a model change",
         "Kept for": "until consent is revoked or the person erased", "Who can see it": "no one"},
        {"Data": "Check-in face crops",
         "What is stored": "a small face image with each face check-in, encrypted with the person's key",
         "Why": "evidence when a record is disputed", "Kept for": _kept(settings.retention_crop_days),
         "Who can see it": "admin, operator"},
        {"Data": "Device camera images", "What is stored": "frames sent by ESP32-CAM cameras",
         "Why": "recognise faces at a door or the stage",
         "Kept for": _kept(settings.retention_frame_days) + "; the time and camera of each frame stay",
         "Who can see it": "no one (processed only)"},
        {"Data": "Attendance", "What is stored": "session, time, status, method, score; corrections with their reason",
         "Why": "the institution's attendance records",
         "Kept for": _kept(settings.retention_attendance_days) + " after the session",
         "Who can see it": "admin, operator, viewer; a student their own"},
        {"Data": "Unknown faces",
         "What is stored": ("time, camera and score of faces nobody matched, no image; with Telegram alerts on, "
                            "the photo goes to the Telegram chat"),
         "Why": "security at the door", "Kept for": "with the log (the Telegram copy: Telegram's own terms)",
         "Who can see it": "admin, operator; the alert chat's members"},
        {"Data": "Audit trail", "What is stored": "who changed what, when and why",
         "Why": "accountability", "Kept for": "with the event log; erasure puts a pseudonym in the person's place",
         "Who can see it": "admin"},
    ]
    return pd.DataFrame(rows)


def retention_summary(settings: Settings) -> list[tuple[str, str]]:
    return [(r.label, _kept(r.days)) for r in retention_rules(settings)]
