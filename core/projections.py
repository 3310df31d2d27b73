"""Fold events into the DuckDB read model. Each handler is deterministic: the same events in the
same order give the same tables, which is what makes a rebuild from the log exact."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

import duckdb
import pandas as pd

from core import ceremony
from core.eventlog import Event

Cursor = duckdb.DuckDBPyConnection
Handler = Callable[[Cursor, Event], None]

PERSON_FIELDS = ("name", "name_en", "guardian_name", "department", "phone", "email", "ceremony_order", "rfid_tag",
                 "pronunciation")
_HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn
    return register


def ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def apply(cur: Cursor, event: Event) -> None:
    handler = _HANDLERS.get(event.kind)
    if handler is not None:
        handler(cur, event)
    if event.source == "device":
        _device_event(cur, event)
        if event.kind in ("beam.front", "beam.back", "rfid.scan"):
            _stage_sensor(cur, event)
    elif (event.source == "app" and event.actor) or event.kind in ALWAYS_AUDITED:
        _audit(cur, event)  # people's actions; device traffic and derived results are not audit material


# --- people ---------------------------------------------------------------------------------

def _upsert_person(cur: Cursor, fields: dict[str, Any], at: datetime) -> None:
    """Insert, or update only the fields given (a roster without an e-mail column keeps e-mails)."""
    student_id = fields["student_id"]
    given = {k: fields[k] for k in PERSON_FIELDS if k in fields}
    exists = cur.execute("SELECT 1 FROM people WHERE student_id = ?", [student_id]).fetchone()
    if exists:
        if given:
            sets = ", ".join(f"{k} = ?" for k in given)
            cur.execute(f"UPDATE people SET {sets}, updated_at = ? WHERE student_id = ?",
                        [*given.values(), at, student_id])
        return
    cols = ["student_id", *given, "created_at", "updated_at"]
    cur.execute(f"INSERT INTO people ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [student_id, *given.values(), at, at])


@handles("person.upserted")
def _person_upserted(cur: Cursor, e: Event) -> None:
    _upsert_person(cur, e.payload["person"], ts(e.ts_ms))


@handles("roster.imported")
def _roster_imported(cur: Cursor, e: Event) -> None:
    # One set-based upsert: a 50,000-row roster folds in about a second instead of a row at a time.
    given = [k for k in PERSON_FIELDS if k in set(e.payload["columns"]) | {"name"}]
    rows = pd.DataFrame([{k: row.get(k) for k in ("student_id", *given)} for row in e.payload["rows"]],
                        columns=["student_id", *given]).astype(object)
    rows = rows.drop_duplicates("student_id", keep="last")
    cols = ", ".join(["student_id", *given])
    updates = ", ".join(f"{k} = excluded.{k}" for k in given)
    cur.register("roster_rows", rows)
    try:
        cur.execute(
            f"INSERT INTO people ({cols}, created_at, updated_at) SELECT {cols}, $at, $at FROM roster_rows "
            f"ON CONFLICT (student_id) DO UPDATE SET {updates}, updated_at = excluded.updated_at",
            {"at": ts(e.ts_ms)},
        )
    finally:
        cur.unregister("roster_rows")


@handles("person.deleted")
def _person_deleted(cur: Cursor, e: Event) -> None:
    sid = e.payload["student_id"]
    for table in ("people", "class_members", "attendance", "ceremony_entries", "consents", "face_templates",
                  "face_negatives"):
        cur.execute(f"DELETE FROM {table} WHERE student_id = ?", [sid])
    _faces_changed(cur)


# --- classes, schedules, sessions, attendance ----------------------------------------------

@handles("class.upserted")
def _class_upserted(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR REPLACE INTO classes VALUES (?, ?, ?, ?)",
                [p["class_id"], p["name"], p.get("department"), p.get("teacher")])
    if "members" in p:
        cur.execute("DELETE FROM class_members WHERE class_id = ?", [p["class_id"]])
        for student_id in p["members"]:
            cur.execute("INSERT OR IGNORE INTO class_members VALUES (?, ?)", [p["class_id"], student_id])


@handles("schedule.upserted")
def _schedule_upserted(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute(
        "INSERT OR REPLACE INTO schedules VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [p["schedule_id"], p["class_id"], p.get("weekday"),
         date.fromisoformat(p["on_date"]) if p.get("on_date") else None,
         time.fromisoformat(p["start_time"]), time.fromisoformat(p["end_time"]),
         p.get("late_after_min", 10), p.get("room")],
    )


@handles("schedule.removed")
def _schedule_removed(cur: Cursor, e: Event) -> None:
    cur.execute("DELETE FROM schedules WHERE schedule_id = ?", [e.payload["schedule_id"]])


@handles("session.scheduled")
def _session_scheduled(cur: Cursor, e: Event) -> None:
    p = e.payload
    # A reschedule changes the times and setup, never whether the session was started or ended.
    cur.execute(
        "INSERT INTO sessions (session_id, class_id, starts_at, ends_at, late_after_min, liveness, once_per_day, "
        "qr_needs_face, session_no) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
        "(SELECT coalesce(max(session_no), 0) + 1 FROM sessions)) ON CONFLICT (session_id) DO UPDATE SET "
        "class_id = excluded.class_id, starts_at = excluded.starts_at, ends_at = excluded.ends_at, "
        "late_after_min = excluded.late_after_min, liveness = excluded.liveness, "
        "once_per_day = excluded.once_per_day, qr_needs_face = excluded.qr_needs_face",
        [p["session_id"], p["class_id"], ts(p["starts_at_ms"]), ts(p["ends_at_ms"]), p.get("late_after_min", 10),
         p.get("liveness", "off"), bool(p.get("once_per_day", False)), bool(p.get("qr_needs_face", False))],
    )
    # Attendance rows carry copies of their session's class and start (for fast statistics): keep them true.
    cur.execute("UPDATE attendance SET class_id = ?, starts_at = ?, session_no = (SELECT session_no FROM sessions "
                "WHERE session_id = ?) WHERE session_id = ?",
                [p["class_id"], ts(p["starts_at_ms"]), p["session_id"], p["session_id"]])


@handles("session.started")
def _session_started(cur: Cursor, e: Event) -> None:
    p = e.payload
    # Starting sets up the session (the "setup page"); starting it again only changes the setup.
    cur.execute(
        "UPDATE sessions SET status = 'active', started_at = coalesce(started_at, ?), started_by = coalesce("
        "started_by, ?), liveness = ?, once_per_day = ?, qr_needs_face = ?, late_after_min = ? "
        "WHERE session_id = ? AND status <> 'ended'",
        [ts(e.ts_ms), e.actor, p.get("liveness", "off"), bool(p.get("once_per_day", False)),
         bool(p.get("qr_needs_face", False)), int(p["late_after_min"]), p["session_id"]],
    )


@handles("session.ended")
def _session_ended(cur: Cursor, e: Event) -> None:
    cur.execute("UPDATE sessions SET status = 'ended', ended_at = ? WHERE session_id = ? AND status <> 'ended'",
                [ts(e.ts_ms), e.payload["session_id"]])


@handles("attendance.recorded")
def _attendance_recorded(cur: Cursor, e: Event) -> None:
    p = e.payload
    evidence = p.get("evidence") or {}
    at = ts(p.get("at_ms", e.ts_ms))
    # After End attendance nothing more is recorded, whichever camera or device reports late.
    # One record per person per session: the first event wins, a repeat is a no-op.
    # The session's class and start, and the status as flags, are copied onto the row (statistics filter on
    # them without a join or string comparisons), with the person's integer key.
    cur.execute(
        "INSERT OR IGNORE INTO attendance (session_id, student_id, status, checked_at, method, score, event_id, "
        "attended, late, person_no, class_id, starts_at, session_no, runner_up_gap, liveness, model, threshold) "
        "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, s.class_id, s.starts_at, s.session_no, ?, ?, ?, ? "
        "FROM (SELECT 1) LEFT JOIN sessions s ON s.session_id = ? WHERE s.ended_at IS NULL OR ? < s.ended_at",
        [p["session_id"], p["student_id"], p["status"], at, p["method"], p.get("score"),
         e.id, p["status"] in ("present", "late"), p["status"] == "late", person_key(cur, p["student_id"]),
         evidence.get("runner_up_gap"),
         evidence.get("liveness"), evidence.get("model"), evidence.get("threshold"), p["session_id"], at],
    )
    # Kept only when this event made the record (looked up by the primary key: a scan of event_id would make a
    # rebuild quadratic).
    if evidence.get("crop_token") and cur.execute(
            "SELECT 1 FROM attendance WHERE session_id = ? AND student_id = ? AND event_id = ?",
            [p["session_id"], p["student_id"], e.id]).fetchone():
        cur.execute("INSERT OR IGNORE INTO evidence_crops VALUES (?, ?, ?, ?, ?)",
                    [e.id, p["session_id"], p["student_id"], at, evidence["crop_token"]])


@handles("attendance.corrected")
def _attendance_corrected(cur: Cursor, e: Event) -> None:
    p = e.payload
    status = p["status"]
    # A correction can also create the record (a person marked present by hand) or set it to absent / excused.
    cur.execute(
        "INSERT INTO attendance (session_id, student_id, status, checked_at, method, event_id, attended, late, "
        "person_no, class_id, starts_at, session_no, corrected_by, correction_reason) "
        "SELECT ?, ?, ?, ?, 'manual', ?, ?, ?, ?, s.class_id, s.starts_at, s.session_no, ?, ? "
        "FROM (SELECT 1) LEFT JOIN sessions s ON s.session_id = ? "
        "ON CONFLICT (session_id, student_id) DO UPDATE SET status = excluded.status, "
        "attended = excluded.attended, late = excluded.late, corrected_by = excluded.corrected_by, "
        "correction_reason = excluded.correction_reason",
        [p["session_id"], p["student_id"], status, ts(e.ts_ms), e.id, status in ("present", "late"),
         status == "late", person_key(cur, p["student_id"]), e.actor, p["reason"], p["session_id"]],
    )


def person_key(cur: Cursor, student_id: str) -> int:
    """The person's integer key (attendance.person_no); the first time, one more than the largest given."""
    row = cur.execute("SELECT person_no FROM person_keys WHERE student_id = ?", [student_id]).fetchone()
    if row is None:  # looked up first: a read is cheaper than an INSERT OR IGNORE on every check-in
        row = cur.execute("INSERT INTO person_keys SELECT ?, coalesce(max(person_no), 0) + 1 FROM person_keys "
                          "RETURNING person_no", [student_id]).fetchone()
    return row[0]


# --- ceremonies ------------------------------------------------------------------------------

@handles("ceremony.created")
def _ceremony_created(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR REPLACE INTO ceremonies (ceremony_id, name, on_date, venue, absent_timeout_min, created_at, "
                "status, auto_advance, calls) VALUES (?, ?, ?, ?, ?, ?, 'planned', FALSE, 0)",
                [p["ceremony_id"], p["name"], date.fromisoformat(p["on_date"]), p.get("venue"),
                 p.get("absent_timeout_min", 5), ts(e.ts_ms)])
    cur.execute("DELETE FROM ceremony_entries WHERE ceremony_id = ?", [p["ceremony_id"]])
    cur.execute("DELETE FROM ceremony_flags WHERE ceremony_id = ?", [p["ceremony_id"]])
    for entry in p["entries"]:
        cur.execute("INSERT INTO ceremony_entries (ceremony_id, student_id, order_no, queue_pos) VALUES (?, ?, ?, ?)",
                    [p["ceremony_id"], entry["student_id"], entry["order_no"], float(entry["order_no"])])


def _load_ceremony(cur: Cursor, ceremony_id: str) -> ceremony.Ceremony | None:
    row = cur.execute("SELECT absent_timeout_min, status, auto_advance, calls FROM ceremonies WHERE ceremony_id = ?",
                      [ceremony_id]).fetchone()
    if row is None:
        return None
    rows = cur.execute("SELECT student_id, order_no, status, queue_pos, call_no, epoch_ms(called_at), "
                       "epoch_ms(on_stage_at), epoch_ms(received_at) FROM ceremony_entries WHERE ceremony_id = ?",
                       [ceremony_id]).fetchall()
    entries = {r[0]: ceremony.Entry(*r) for r in rows}
    return ceremony.Ceremony(ceremony_id, int(float(row[0]) * 60_000), entries, row[1], bool(row[2]), int(row[3]))


def _save_ceremony(cur: Cursor, c: ceremony.Ceremony, before: ceremony.Ceremony, e: Event) -> None:
    cur.execute("UPDATE ceremonies SET status = ?, auto_advance = ?, calls = ?, absent_timeout_min = ?, "
                "started_at = CASE WHEN ? = 'running' AND started_at IS NULL THEN ? ELSE started_at END, "
                "ended_at = CASE WHEN ? = 'ended' THEN ? ELSE ended_at END WHERE ceremony_id = ?",
                [c.status, c.auto_advance, c.calls, c.absent_timeout_ms / 60_000, c.status, ts(e.ts_ms), c.status,
                 ts(e.ts_ms), c.ceremony_id])
    for sid, entry in c.entries.items():
        if entry != before.entries[sid]:
            cur.execute("UPDATE ceremony_entries SET status = ?, queue_pos = ?, call_no = ?, called_at = ?, "
                        "on_stage_at = ?, received_at = ? WHERE ceremony_id = ? AND student_id = ?",
                        [entry.status, entry.queue_pos, entry.call_no, ts(entry.called_at_ms),
                         ts(entry.on_stage_at_ms), ts(entry.received_at_ms), c.ceremony_id, sid])
    for flag in c.flags[len(before.flags):]:
        cur.execute("INSERT INTO ceremony_flags VALUES (?, ?, ?, ?, ?)",
                    [e.id, c.ceremony_id, ts(flag.at_ms), flag.kind, flag.detail])


def fold_ceremony(cur: Cursor, ceremony_id: str | None, kind: str, payload: dict, e: Event) -> None:
    """Load the ceremony, run the pure state machine on one event, write back what changed."""
    if ceremony_id is None:
        return
    c = _load_ceremony(cur, ceremony_id)
    if c is None:
        return
    before = ceremony.snapshot(c)
    ceremony.apply(c, kind, payload, e.ts_ms)
    _save_ceremony(cur, c, before, e)


def _running_ceremony(cur: Cursor) -> str | None:
    row = cur.execute("SELECT ceremony_id FROM ceremonies WHERE status = 'running' "
                      "ORDER BY started_at DESC LIMIT 1").fetchone()
    return row[0] if row else None


def _ceremony_event(cur: Cursor, e: Event) -> None:
    fold_ceremony(cur, e.payload.get("ceremony_id"), e.kind, e.payload, e)


for _kind in ("ceremony.started", "ceremony.ended", "ceremony.settings", "ceremony.called", "ceremony.call_undone",
              "ceremony.skipped", "ceremony.requeued", "ceremony.status_set", "ceremony.absent_timeout",
              "stage.identified"):
    _HANDLERS[_kind] = _ceremony_event


@handles("ceremony.lineup_checked")
def _lineup_checked(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR IGNORE INTO lineup_checks VALUES (?, ?, ?, ?, ?, ?)",
                [e.id, p["ceremony_id"], p["student_id"], ts(e.ts_ms), p.get("face_match"), p.get("score")])


def _stage_sensor(cur: Cursor, e: Event) -> None:
    """Beams belong to the running ceremony; an RFID tag names the person who carries it."""
    running = _running_ceremony(cur)
    if running is None:
        return
    if e.kind == "rfid.scan" and e.payload.get("student_id"):
        # The scan of an erased person: the tag was taken out of the log, the pseudonym put in its place.
        fold_ceremony(cur, running, "stage.identified", {"student_id": e.payload["student_id"], "method": "rfid"}, e)
    elif e.kind == "rfid.scan":
        row = cur.execute("SELECT student_id FROM people WHERE upper(rfid_tag) = ?", [e.payload["tag"]]).fetchone()
        if row is None:
            cur.execute("INSERT INTO ceremony_flags VALUES (?, ?, ?, 'unknown_tag', ?)",
                        [e.id, running, ts(e.ts_ms), f"RFID tag {e.payload['tag']} belongs to nobody"])
            return
        fold_ceremony(cur, running, "stage.identified", {"student_id": row[0], "method": "rfid"}, e)
    else:
        fold_ceremony(cur, running, e.kind, e.payload, e)


# --- faces ------------------------------------------------------------------------------------

def _faces_changed(cur: Cursor) -> None:
    # The in-memory gallery compares this number to know when to reload.
    cur.execute("UPDATE face_state SET version = version + 1 WHERE id = 1")


def _refresh_photo_count(cur: Cursor, student_id: str) -> None:
    cur.execute("UPDATE people SET photo_count = (SELECT count(*) FROM face_templates WHERE student_id = ?) "
                "WHERE student_id = ?", [student_id, student_id])


@handles("consent.recorded")
def _consent_recorded(cur: Cursor, e: Event) -> None:
    p = e.payload
    # Recording consent again (after a revocation) starts a new consent: the revocation fields clear.
    cur.execute("INSERT OR REPLACE INTO consents (student_id, method, purpose, recorded_by, recorded_at, revoked_at, "
                "revoked_by, revoke_reason) VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL)",
                [p["student_id"], p["method"], p.get("purpose"), e.actor, ts(e.ts_ms)])


@handles("consent.revoked")
def _consent_revoked(cur: Cursor, e: Event) -> None:
    """Biometric processing ends with the consent: templates and hard negatives go (the key is shredded too)."""
    sid = e.payload["student_id"]
    cur.execute("UPDATE consents SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE student_id = ?",
                [ts(e.ts_ms), e.actor, e.payload.get("reason"), sid])
    cur.execute("DELETE FROM face_templates WHERE student_id = ?", [sid])
    cur.execute("DELETE FROM face_negatives WHERE student_id = ?", [sid])
    _refresh_photo_count(cur, sid)
    _faces_changed(cur)


@handles("face.enrolled")
def _face_enrolled(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR IGNORE INTO face_templates VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [p["template_id"], p["student_id"], p["model"], p["detector"], json.dumps(p.get("quality")),
                 p.get("source"), p["token"], ts(e.ts_ms)])
    _refresh_photo_count(cur, p["student_id"])
    _faces_changed(cur)


@handles("face.removed")
def _face_removed(cur: Cursor, e: Event) -> None:
    p = e.payload
    if p.get("template_id"):
        cur.execute("DELETE FROM face_templates WHERE template_id = ?", [p["template_id"]])
    else:
        cur.execute("DELETE FROM face_templates WHERE student_id = ?", [p["student_id"]])
    _refresh_photo_count(cur, p["student_id"])
    _faces_changed(cur)


@handles("face.not_this_person")
def _face_not_this_person(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR IGNORE INTO face_negatives VALUES (?, ?, ?, ?, ?)",
                [e.id, p["student_id"], p["model"], p["token"], ts(e.ts_ms)])
    _faces_changed(cur)


# --- devices ----------------------------------------------------------------------------------

def _device_event(cur: Cursor, e: Event) -> None:
    """Device traffic is not audit material (it is high-volume): it feeds device health and history."""
    p = e.payload
    device_id = p.get("device_id") or e.actor
    cur.execute("INSERT INTO device_status (device_id) VALUES (?) ON CONFLICT DO NOTHING", [device_id])
    seen = ts(p.get("received_ms") or e.ts_ms)
    cur.execute("UPDATE device_status SET last_seen = greatest(coalesce(last_seen, ?), ?) WHERE device_id = ?",
                [seen, seen, device_id])
    if e.kind == "device.heartbeat":
        cur.execute("UPDATE device_status SET boot_id = ?, firmware = ?, uptime_s = ?, rssi = ?, queue_depth = ?, "
                    "free_heap = ? WHERE device_id = ?",
                    [p["boot_id"], p["firmware"], p["uptime_s"], p["rssi"], p["queue_depth"], p["free_heap"],
                     device_id])
        return
    detail = p.get("tag") or (f"{_jpeg_bytes(p) // 1024} kB JPEG" if "jpeg_b64" in p or "jpeg_bytes" in p else None)
    cur.execute("INSERT OR IGNORE INTO device_events VALUES (?, ?, ?, ?, ?, ?)",
                [e.id, device_id, e.kind, ts(e.ts_ms), ts(p.get("received_ms")), detail])


def _jpeg_bytes(p: dict[str, Any]) -> int:
    # A frame whose image retention purged keeps its size, so its row reads the same after a rebuild.
    return int(p["jpeg_bytes"]) if "jpeg_bytes" in p else len(p["jpeg_b64"]) * 3 // 4


@handles("face.unknown_seen")
def _unknown_seen(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR IGNORE INTO unknown_faces VALUES (?, ?, ?, ?)",
                [e.id, ts(e.ts_ms), p.get("device_id") or p.get("source"), p.get("score")])


@handles("alert.sent")
def _alert_sent(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR IGNORE INTO alerts VALUES (?, ?, ?, ?, ?, ?)",
                [e.id, ts(e.ts_ms), p["kind"], p.get("source"), p["status"], p.get("detail")])


@handles("frame.processed")
def _frame_processed(cur: Cursor, e: Event) -> None:
    p = e.payload
    found = p.get("error") or f"{p.get('faces', 0)} face(s), known: {', '.join(p.get('known', [])) or 'none'}"
    cur.execute("UPDATE device_events SET detail = concat_ws(' · ', detail, ?) WHERE event_id = ?",
                [found, p["frame_id"]])


# --- users and sign-in -----------------------------------------------------------------------

@handles("user.created")
def _user_created(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute(
        "INSERT OR REPLACE INTO users (username, display_name, role, student_id, password_hash, must_change, "
        "enabled, created_at) VALUES (?, ?, ?, ?, ?, ?, TRUE, ?)",
        [p["username"], p.get("display_name"), p["role"], p.get("student_id"), p["password_hash"],
         p.get("must_change", True), ts(e.ts_ms)],
    )


@handles("user.updated")
def _user_updated(cur: Cursor, e: Event) -> None:
    p = e.payload
    changes = {k: p[k] for k in ("display_name", "role", "student_id", "enabled") if k in p}
    if changes:
        sets = ", ".join(f"{k} = ?" for k in changes)
        cur.execute(f"UPDATE users SET {sets} WHERE username = ?", [*changes.values(), p["username"]])


@handles("user.password_set")
def _user_password_set(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute(
        "UPDATE users SET password_hash = ?, must_change = ?, failed_attempts = 0, locked_until = NULL "
        "WHERE username = ?",
        [p["password_hash"], p.get("must_change", False), p["username"]],
    )


@handles("auth.login_failed")
def _login_failed(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("UPDATE users SET failed_attempts = failed_attempts + 1, locked_until = ? WHERE username = ?",
                [ts(p.get("locked_until_ms")), p["username"]])


@handles("auth.login_succeeded")
def _login_succeeded(cur: Cursor, e: Event) -> None:
    cur.execute("UPDATE users SET failed_attempts = 0, locked_until = NULL, last_login = ? WHERE username = ?",
                [ts(e.ts_ms), e.payload["username"]])


# --- privacy: tombstones, retention ----------------------------------------------------------

FACE_KINDS = ("face.enrolled", "face.removed", "face.not_this_person", "consent.revoked", "person.deleted")


@handles("redacted")
def _redacted(cur: Cursor, e: Event) -> None:
    """What erasure or retention left of an event. A face event still counts as a change of the gallery, so
    the face version of a rebuild equals the one of the live read model."""
    if e.payload.get("was") in FACE_KINDS:
        _faces_changed(cur)


# --- audit -----------------------------------------------------------------------------------

_SECRET_KEYS = {"password_hash", "secret", "token", "crop_token", "jpeg_b64"}
ALWAYS_AUDITED = {"retention.purged"}  # a worker's action that the audit trail must show


def _target(p: dict[str, Any]) -> str | None:
    for key in ("student_id", "username", "class_id", "session_id", "ceremony_id", "device_id", "file_name"):
        if p.get(key) is not None:
            return str(p[key])
    if isinstance(p.get("person"), dict):
        return str(p["person"].get("student_id"))
    return None


def _detail(e: Event) -> str:
    p = e.payload
    if e.kind == "roster.imported":
        return f"{len(p['rows'])} rows from {p.get('file_name')} ({p.get('encoding')})"
    if e.kind == "retention.purged":
        return ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in p.get("counts", {}).items())
    shown = {k: _shown(v) for k, v in p.items() if k not in _SECRET_KEYS and k != "reason"}
    text = ", ".join(f"{k}={v}" for k, v in shown.items())
    return text[:500]


def _shown(value: Any) -> Any:
    # Nested secrets too (a check-in's evidence carries its encrypted face crop): the audit trail never shows them,
    # and redacting one from the log leaves the audit row as it was.
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items() if k not in _SECRET_KEYS}
    return value


def _audit(cur: Cursor, e: Event) -> None:
    cur.execute("INSERT OR IGNORE INTO audit VALUES (?, ?, ?, ?, ?, ?, ?)",
                [e.id, ts(e.ts_ms), e.actor, e.kind, _target(e.payload), _detail(e), e.payload.get("reason")])
