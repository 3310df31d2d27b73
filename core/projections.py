"""Fold events into the DuckDB read model, a batch at a time.

Each fold is deterministic: the same events in the same order give the same tables, which is what makes a
rebuild from the log exact. A batch is folded set-based: events are routed to *groups* (attendance, the
ceremony state machine, device traffic, face templates, the audit trail, ...), a group gathers its events and
writes them with one statement per table when it is flushed, and the ceremony state machine runs in Python
over every ceremony event of the run and is written back once. Order is kept where it matters: each group
names the tables it reads or writes, and an event whose group touches a table that another open group
touches flushes that group first, so the tables end exactly as if every event had been folded one by one
(a test folds the same log both ways and compares). Kinds without a group fold one event at a time.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any, cast, overload

import duckdb
import pandas as pd

from core import ceremony
from core.ceremony_rows import read_ceremony
from core.eventlog import Event
from core.events import KINDS
from core.timeutil import from_ms

Cursor = duckdb.DuckDBPyConnection
Handler = Callable[[Cursor, Event], None]
EVERYTHING = frozenset({"*"})  # a fold that may read or write any table: it runs alone, in order
_STAGE_SENSORS = ("beam.front", "beam.back", "rfid.scan")
STAGE_SENSOR_SKEW_MS = 60_000  # a stage sensor's event dated further than this from its arrival moves nobody

PERSON_FIELDS = ("name", "name_en", "guardian_name", "department", "phone", "email", "ceremony_order", "rfid_tag",
                 "pronunciation")


class UnknownKind(ValueError):
    """An event whose kind has no fold: recorded as an ingest error (never skipped in silence)."""


class Group:
    """Gathers the events of one fold group and writes them when flushed."""

    tables: frozenset[str] = EVERYTHING

    def __init__(self, cur: Cursor):
        self.cur = cur

    def add(self, event: Event) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError


# What a one-at-a-time fold touches: fixed, or worked out from the event (before it is folded).
Tables = frozenset[str] | Callable[[Cursor, Event], frozenset[str]]
_SOLO: dict[str, tuple[Handler, Tables]] = {}  # kinds folded one event at a time (staff edits, sessions, users)
_GROUPED: dict[str, type[Group]] = {}  # kinds gathered into a group and written set-based


def handles(kind: str, tables: Tables = EVERYTHING) -> Callable[[Handler], Handler]:
    """Register a one-event-at-a-time fold for `kind`, touching `tables` (default: any)."""
    def register(fn: Handler) -> Handler:
        _SOLO[kind] = (fn, tables)
        return fn
    return register


def grouped(*kinds: str) -> Callable[[type[Group]], type[Group]]:
    def register(cls: type[Group]) -> type[Group]:
        for kind in kinds:
            _GROUPED[kind] = cls
        return cls
    return register


def folds(kind: str) -> bool:
    return kind in _SOLO or kind in _GROUPED


class Batch:
    """One transaction's worth of events: `add` them in log order, then `finish`."""

    def __init__(self, cur: Cursor):
        self.cur = cur
        self.open: dict[type[Group], Group] = {}  # pairwise free of shared tables: their order does not matter
        self.audit: list[Event] = []

    def add(self, event: Event) -> None:
        if event.kind in _GROUPED:
            self._gather(_GROUPED[event.kind], event)
        elif event.kind in _SOLO:
            handler, tables = _SOLO[event.kind]
            self._make_way(tables(self.cur, event) if callable(tables) else tables)
            handler(self.cur, event)
        else:
            raise UnknownKind(f"no fold for event kind {event.kind!r}")
        if event.source == "device":
            self._gather(DeviceTraffic, event)
            if event.kind in _STAGE_SENSORS:
                self._gather(CeremonyRun, event)
        elif audited(event):
            self.audit.append(event)

    def _make_way(self, tables: frozenset[str], keep: type[Group] | None = None) -> None:
        """Write the open groups that touch `tables`, so what comes next sees them."""
        for kind, group in list(self.open.items()):
            if kind is not keep and _overlap(group.tables, tables):
                group.flush()
                del self.open[kind]

    def _gather(self, kind: type[Group], event: Event) -> None:
        self._make_way(kind.tables, keep=kind)
        if kind not in self.open:
            self.open[kind] = kind(self.cur)
        self.open[kind].add(event)

    def finish(self) -> None:
        for group in self.open.values():
            group.flush()
        self.open.clear()
        write_audit(self.cur, self.audit)
        self.audit.clear()


def _overlap(a: frozenset[str], b: frozenset[str]) -> bool:
    return "*" in a or "*" in b or bool(a & b)


def audited(event: Event) -> bool:
    """People's actions, and workers' actions the trail must show; device traffic and derived results are not
    audit material."""
    if event.source == "device":
        return False
    known = KINDS.get(event.kind)
    return bool((event.source == "app" and event.actor) or (known and known.always_audited))


def fold(cur: Cursor, events: list[Event]) -> None:
    batch = Batch(cur)
    for event in events:
        batch.add(event)
    batch.finish()


def apply(cur: Cursor, event: Event) -> None:
    """Fold one event (tests and tools; the ingestor folds batches)."""
    fold(cur, [event])


def _first(result: Cursor) -> tuple | None:
    """The first row, with the result read to its end (DuckDB refuses new work on a cursor that has an
    unfinished result)."""
    rows = result.fetchall()
    return rows[0] if rows else None


@overload
def ts(ms: int) -> datetime: ...
@overload
def ts(ms: None) -> None: ...
def ts(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def _frame(cur: Cursor, name: str, df: pd.DataFrame, sql: str, params: Any = None) -> Any:
    """Run `sql` with `df` visible as table `name` (a zero-copy scan of the DataFrame)."""
    cur.register(name, df)
    try:
        return cur.execute(sql, params or []).fetchall()
    finally:
        with contextlib.suppress(duckdb.Error):  # after a failed statement: keep its error, not this one's
            cur.unregister(name)


# --- people ---------------------------------------------------------------------------------

# Columns of `people` that other groups read or write are named apart, so a ceremony run (reading RFID tags) and
# enrollments (writing photo counts) do not wait for each other. Creating or editing a person touches them all.
PEOPLE = frozenset({"people", "people.rfid_tag", "people.photo_count"})

def _upsert_person(cur: Cursor, fields: dict[str, Any], at: datetime) -> None:
    """Insert, or update only the fields given (a roster without an e-mail column keeps e-mails)."""
    student_id = fields["student_id"]
    given = {k: fields[k] for k in PERSON_FIELDS if k in fields}
    exists = _first(cur.execute("SELECT 1 FROM people WHERE student_id = ?", [student_id]))
    if exists:
        if given:
            sets = ", ".join(f"{k} = ?" for k in given)
            cur.execute(f"UPDATE people SET {sets}, updated_at = ? WHERE student_id = ?",
                        [*given.values(), at, student_id])
        return
    cols = ["student_id", *given, "created_at", "updated_at"]
    cur.execute(f"INSERT INTO people ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [student_id, *given.values(), at, at])


def _person_edit_touches(cur: Cursor, e: Event) -> frozenset[str]:
    """An edit of an existing person without an RFID tag leaves the columns other groups use alone."""
    fields = e.payload.get("person") or {}
    if "rfid_tag" in fields or _first(cur.execute("SELECT 1 FROM people WHERE student_id = ?",
                                                  [fields.get("student_id")])) is None:
        return PEOPLE
    return frozenset({"people"})


@handles("person.upserted", _person_edit_touches)
def _person_upserted(cur: Cursor, e: Event) -> None:
    _upsert_person(cur, e.payload["person"], ts(e.ts_ms))


@handles("roster.imported", PEOPLE)
def _roster_imported(cur: Cursor, e: Event) -> None:
    # One set-based upsert: a 50,000-row roster folds in about a second instead of a row at a time.
    given = [k for k in PERSON_FIELDS if k in set(e.payload["columns"]) | {"name"}]
    rows = pd.DataFrame([{k: row.get(k) for k in ("student_id", *given)} for row in e.payload["rows"]],
                        columns=["student_id", *given]).astype(object)
    rows = rows.drop_duplicates("student_id", keep="last")
    cols = ", ".join(["student_id", *given])
    updates = ", ".join(f"{k} = excluded.{k}" for k in given)
    _frame(cur, "roster_rows", rows,
           f"INSERT INTO people ({cols}, created_at, updated_at) SELECT {cols}, $at, $at FROM roster_rows "
           f"ON CONFLICT (student_id) DO UPDATE SET {updates}, updated_at = excluded.updated_at",
           {"at": ts(e.ts_ms)})


@handles("person.deleted")
def _person_deleted(cur: Cursor, e: Event) -> None:
    sid = e.payload["student_id"]
    for table in ("people", "class_members", "attendance", "ceremony_entries", "consents", "face_templates",
                  "face_negatives"):
        cur.execute(f"DELETE FROM {table} WHERE student_id = ?", [sid])
    _faces_changed(cur)


# --- classes, schedules, sessions, attendance ----------------------------------------------

@grouped("class.upserted")
class ClassRun(Group):
    """Classes, set-based: each class ends with its last event's name, department and teacher, and with the
    members of its last event that lists members (an event without `members` keeps them)."""

    tables = frozenset({"classes", "class_members"})

    def __init__(self, cur: Cursor):
        super().__init__(cur)
        self.classes: dict[str, tuple] = {}
        self.members: dict[str, list[str]] = {}

    def add(self, e: Event) -> None:
        p = e.payload
        self.classes[p["class_id"]] = (p["class_id"], p["name"], p.get("department"), p.get("teacher"))
        if "members" in p:
            self.members[p["class_id"]] = list(dict.fromkeys(p["members"]))

    def flush(self) -> None:
        if not self.classes:
            return
        ids = pd.DataFrame({"class_id": list(self.members)}, dtype=object)
        if len(ids):  # only classes that existed can have members to replace (the delete scans the table)
            _frame(self.cur, "replaced", ids, "DELETE FROM class_members WHERE class_id IN (SELECT class_id FROM "
                                              "replaced JOIN classes USING (class_id))")
        rows = pd.DataFrame(list(self.classes.values()), columns=["class_id", "name", "department", "teacher"],
                            dtype=object)
        _frame(self.cur, "saved", rows, "INSERT OR REPLACE INTO classes SELECT class_id, name, department, teacher "
                                        "FROM saved")
        members = pd.DataFrame([(c, m) for c, listed in self.members.items() for m in listed],
                               columns=["class_id", "student_id"], dtype=object)
        if len(members):
            _frame(self.cur, "members", members, "INSERT OR IGNORE INTO class_members SELECT class_id, student_id "
                                                 "FROM members")
        self.classes.clear()
        self.members.clear()


@handles("schedule.upserted", frozenset({"schedules"}))
def _schedule_upserted(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute(
        "INSERT OR REPLACE INTO schedules VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [p["schedule_id"], p["class_id"], p.get("weekday"),
         date.fromisoformat(p["on_date"]) if p.get("on_date") else None,
         time.fromisoformat(p["start_time"]), time.fromisoformat(p["end_time"]),
         p.get("late_after_min", 10), p.get("room")],
    )


@handles("schedule.removed", frozenset({"schedules"}))
def _schedule_removed(cur: Cursor, e: Event) -> None:
    cur.execute("DELETE FROM schedules WHERE schedule_id = ?", [e.payload["schedule_id"]])


@grouped("session.scheduled", "session.started")
class ScheduleRun(Group):
    """Sessions put on the calendar, set-based. A new session gets the next session key in order of appearance; a
    reschedule changes the times and setup, never whether the session was started or ended, nor its key.
    Attendance rows carry copies of their session's class and start (for fast statistics): only a moved session,
    or check-ins that arrived before their session was scheduled (no session key yet), need them set again — not
    every new session (a scan of the whole table). Starting sets a session up (the "setup page"): the first start
    keeps its time and who, every start sets the setup, so the last one's stays; an ended session is not started."""

    tables = frozenset({"sessions", "attendance"})

    def __init__(self, cur: Cursor):
        super().__init__(cur)
        self.sessions: dict[str, dict[str, Any]] = {}  # in order of first appearance, with the last values
        self.starts: dict[str, dict[str, Any]] = {}  # session -> the first start's time and who, the last setup

    def add(self, e: Event) -> None:
        p = e.payload
        if e.kind == "session.started":
            first = self.starts.get(p["session_id"], {"started_at": ts(e.ts_ms), "started_by": e.actor})
            self.starts[p["session_id"]] = {
                **first, "session_id": p["session_id"], "liveness": p.get("liveness", "off"),
                "once_per_day": bool(p.get("once_per_day", False)),
                "qr_needs_face": bool(p.get("qr_needs_face", False)), "late_after_min": int(p["late_after_min"])}
            return
        if p["session_id"] in self.starts:  # rescheduled after a start in this run: the order of the two matters
            self.flush()
        row = {"session_id": p["session_id"], "class_id": p["class_id"], "starts_at": ts(p["starts_at_ms"]),
               "ends_at": ts(p["ends_at_ms"]), "late_after_min": int(p.get("late_after_min", 10)),
               "liveness": p.get("liveness", "off"), "once_per_day": bool(p.get("once_per_day", False)),
               "qr_needs_face": bool(p.get("qr_needs_face", False)), "starts_ms": p["starts_at_ms"]}
        self.sessions[p["session_id"]] = {**self.sessions.get(p["session_id"], {}), **row}

    def flush(self) -> None:
        if self.sessions:
            self._schedule()
        if self.starts:
            starts = pd.DataFrame(list(self.starts.values())).astype({"session_id": object, "started_by": object,
                                                                      "liveness": object})
            starts["started_at"] = pd.to_datetime(starts["started_at"], utc=True)
            self.starts.clear()
            _frame(self.cur, "starts", starts, """
                UPDATE sessions s SET status = 'active', started_at = coalesce(s.started_at, t.started_at),
                    started_by = coalesce(s.started_by, t.started_by), liveness = t.liveness,
                    once_per_day = t.once_per_day, qr_needs_face = t.qr_needs_face, late_after_min = t.late_after_min
                FROM starts t WHERE s.session_id = t.session_id AND s.status <> 'ended'""")

    def _schedule(self) -> None:
        rows = pd.DataFrame(list(self.sessions.values())).astype({"session_id": object, "class_id": object,
                                                                  "liveness": object})
        for col in ("starts_at", "ends_at"):
            rows[col] = pd.to_datetime(rows[col], utc=True)
        self.sessions.clear()
        before = {r[0]: (r[1], r[2]) for r in _frame(self.cur, "planned", rows[["session_id"]],
                  "SELECT s.session_id, s.class_id, epoch_ms(s.starts_at) FROM sessions s JOIN planned USING "
                  "(session_id)")}
        last = self.cur.execute("SELECT coalesce(max(session_no), 0) FROM sessions").fetchall()[0][0]
        is_new = ~rows["session_id"].isin(set(before))
        rows["session_no"] = pd.Series(pd.NA, index=rows.index, dtype="Int64")
        rows.loc[is_new, "session_no"] = range(last + 1, last + 1 + int(is_new.sum()))
        _frame(self.cur, "planned", rows, """
            INSERT INTO sessions (session_id, class_id, starts_at, ends_at, late_after_min, liveness, once_per_day,
                qr_needs_face, session_no)
            SELECT session_id, class_id, starts_at, ends_at, late_after_min, liveness, once_per_day, qr_needs_face,
                session_no
            FROM planned
            ON CONFLICT (session_id) DO UPDATE SET class_id = excluded.class_id, starts_at = excluded.starts_at,
                ends_at = excluded.ends_at, late_after_min = excluded.late_after_min, liveness = excluded.liveness,
                once_per_day = excluded.once_per_day, qr_needs_face = excluded.qr_needs_face""")
        new = [sid for sid in rows["session_id"] if sid not in before]
        moved = [sid for sid, cls, start in zip(rows["session_id"], rows["class_id"], rows["starts_ms"], strict=True)
                 if sid in before and before[sid] != (cls, start)]
        for ids, only_unscheduled in ((new, "a.session_no IS NULL AND "), (moved, "")):
            if ids:
                _frame(self.cur, "touched", pd.DataFrame({"session_id": ids}, dtype=object), f"""
                    UPDATE attendance a SET class_id = s.class_id, starts_at = s.starts_at, session_no = s.session_no
                    FROM sessions s WHERE {only_unscheduled}a.session_id = s.session_id
                        AND a.session_id IN (SELECT session_id FROM touched)""")


@grouped("attendance.recorded", "attendance.corrected", "session.ended")
class AttendanceRun(Group):
    """Check-ins, set-based: one record per person per session (the first event wins, a repeat is a no-op),
    nothing after End attendance, whichever camera or device reports late. Staff corrections in the same run
    apply one by one after the check-ins that came before them; a check-in after a correction of the same record
    changes nothing (the record exists by then), so it is dropped. End attendance in the run applies to the
    check-ins after it (dropped from their end time on) and is written last."""

    tables = frozenset({"attendance", "person_keys", "evidence_crops", "sessions"})

    def __init__(self, cur: Cursor):
        super().__init__(cur)
        self.rows: list[dict[str, Any]] = []
        self.corrections: list[Event] = []
        self.corrected: set[tuple[str, str]] = set()
        self.students: list[str] = []  # in order of appearance: who gets the next person key
        self.ends: list[Event] = []
        self.ended: dict[str, datetime] = {}  # sessions ended in this run -> when

    def add(self, e: Event) -> None:
        p = e.payload
        if e.kind == "session.ended":
            self._end(e)
            return
        self.students.append(p["student_id"])
        if e.kind == "attendance.corrected":
            self.corrections.append(e)
            self.corrected.add((p["session_id"], p["student_id"]))
            return
        if (p["session_id"], p["student_id"]) in self.corrected:
            return
        at = ts(p.get("at_ms", e.ts_ms))
        if p["session_id"] in self.ended and at >= self.ended[p["session_id"]]:
            return
        evidence = p.get("evidence") or {}
        self.rows.append({
            "seq": len(self.rows), "session_id": p["session_id"], "student_id": p["student_id"],
            "status": p["status"], "checked_at": at, "method": p["method"],
            "score": p.get("score"), "event_id": e.id, "runner_up_gap": evidence.get("runner_up_gap"),
            "liveness": evidence.get("liveness"), "model": evidence.get("model"),
            "threshold": evidence.get("threshold"), "crop_token": evidence.get("crop_token")})

    def flush(self) -> None:
        if self.students:
            person_keys(self.cur, self.students)
        if self.rows:
            self._record(pd.DataFrame(self.rows))
        if self.corrections:
            self._correct()
        for e in self.ends:
            _session_ended(self.cur, e)
        self.rows.clear()
        self.corrections.clear()
        self.corrected.clear()
        self.students.clear()
        self.ends.clear()
        self.ended.clear()

    def _correct(self) -> None:
        """Staff corrections, one statement: a record that does not exist is made by the first correction of it
        (its time and id), and every correction sets its status and reason, so the last one's stay."""
        rows = pd.DataFrame([{"session_id": e.payload["session_id"], "student_id": e.payload["student_id"],
                              "status": e.payload["status"], "at": ts(e.ts_ms), "event_id": e.id, "actor": e.actor,
                              "reason": e.payload["reason"]} for e in self.corrections]).astype(
            {"actor": object, "reason": object})
        rows["at"] = pd.to_datetime(rows["at"], utc=True)
        first = rows.drop_duplicates(["session_id", "student_id"], keep="first").set_index(["session_id", "student_id"])
        last = rows.drop_duplicates(["session_id", "student_id"], keep="last").set_index(["session_id", "student_id"])
        merged = last.assign(at=first["at"], event_id=first["event_id"]).reset_index()
        _frame(self.cur, "corrections", merged, """
            INSERT INTO attendance (session_id, student_id, status, checked_at, method, event_id, attended, late,
                person_no, class_id, starts_at, session_no, corrected_by, correction_reason)
            SELECT c.session_id, c.student_id, c.status, c.at, 'manual', c.event_id, c.status IN ('present', 'late'),
                c.status = 'late', k.person_no, s.class_id, s.starts_at, s.session_no, c.actor, c.reason
            FROM corrections c JOIN person_keys k USING (student_id) LEFT JOIN sessions s USING (session_id)
            ON CONFLICT (session_id, student_id) DO UPDATE SET status = excluded.status,
                attended = excluded.attended, late = excluded.late, corrected_by = excluded.corrected_by,
                correction_reason = excluded.correction_reason""")

    def _end(self, e: Event) -> None:
        session_id = e.payload["session_id"]
        self.ends.append(e)
        if session_id not in self.ended:
            row = _first(self.cur.execute("SELECT status FROM sessions WHERE session_id = ?", [session_id]))
            if row is not None and row[0] != "ended":  # ended before the run: the read model already says so
                self.ended[session_id] = ts(e.ts_ms)

    def _record(self, rows: pd.DataFrame) -> None:
        for col in ("score", "runner_up_gap", "threshold"):
            rows[col] = pd.to_numeric(rows[col], errors="coerce").astype("float64")
        for col in ("liveness", "model", "crop_token"):
            rows[col] = rows[col].astype(object)
        rows["checked_at"] = pd.to_datetime(rows["checked_at"], utc=True)
        # The session's class and start, and the status as flags, are copied onto the row (statistics filter on
        # them without a join or string comparisons), with the person's integer key.
        made = _frame(self.cur, "checkins", rows, """
            INSERT INTO attendance (session_id, student_id, status, checked_at, method, score, event_id, attended,
                late, person_no, class_id, starts_at, session_no, runner_up_gap, liveness, model, threshold)
            SELECT session_id, student_id, status, checked_at, method, score, event_id, status IN ('present', 'late'),
                status = 'late', person_no, class_id, starts_at, session_no, runner_up_gap, liveness, model, threshold
            FROM (
                SELECT r.*, k.person_no, s.class_id, s.starts_at, s.session_no,
                    row_number() OVER (PARTITION BY r.session_id, r.student_id ORDER BY r.seq) AS nth
                FROM checkins r JOIN person_keys k USING (student_id)
                LEFT JOIN sessions s ON s.session_id = r.session_id
                WHERE s.ended_at IS NULL OR r.checked_at < s.ended_at)
            WHERE nth = 1
            ON CONFLICT DO NOTHING
            RETURNING event_id""")
        # The face crop is kept only when its event made the record.
        crops = rows[rows["crop_token"].notna() & rows["event_id"].isin({m[0] for m in made})]
        if len(crops):
            _frame(self.cur, "crops", crops, "INSERT OR IGNORE INTO evidence_crops SELECT event_id, session_id, "
                                             "student_id, checked_at, crop_token FROM crops")


def _session_ended(cur: Cursor, e: Event) -> None:
    cur.execute("UPDATE sessions SET status = 'ended', ended_at = ? WHERE session_id = ? AND status <> 'ended'",
                [ts(e.ts_ms), e.payload["session_id"]])


def person_keys(cur: Cursor, student_ids: list[str]) -> None:
    """Give people seen for the first time their integer key (attendance.person_no), in order of appearance:
    one more than the largest given, then the next."""
    wanted = pd.DataFrame({"student_id": list(dict.fromkeys(student_ids))}, dtype=object)
    wanted["n"] = range(len(wanted))
    _frame(cur, "wanted", wanted, """
        INSERT INTO person_keys
        SELECT w.student_id, (SELECT coalesce(max(person_no), 0) FROM person_keys)
            + row_number() OVER (ORDER BY w.n)
        FROM wanted w ANTI JOIN person_keys k USING (student_id)""")


# --- ceremonies ------------------------------------------------------------------------------

CEREMONY_TABLES = frozenset({"ceremonies", "ceremony_entries", "ceremony_flags"})


@handles("ceremony.created", CEREMONY_TABLES)
def _ceremony_created(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR REPLACE INTO ceremonies (ceremony_id, name, on_date, venue, absent_timeout_min, created_at, "
                "status, auto_advance, calls) VALUES (?, ?, ?, ?, ?, ?, 'planned', FALSE, 0)",
                [p["ceremony_id"], p["name"], date.fromisoformat(p["on_date"]), p.get("venue"),
                 p.get("absent_timeout_min", 5), ts(e.ts_ms)])
    cur.execute("DELETE FROM ceremony_entries WHERE ceremony_id = ?", [p["ceremony_id"]])
    cur.execute("DELETE FROM ceremony_flags WHERE ceremony_id = ?", [p["ceremony_id"]])
    entries = pd.DataFrame({"student_id": [x["student_id"] for x in p["entries"]],
                            "order_no": [int(x["order_no"]) for x in p["entries"]]})
    if len(entries):
        entries["student_id"] = entries["student_id"].astype(object)
        _frame(cur, "entries", entries, "INSERT INTO ceremony_entries (ceremony_id, student_id, order_no, queue_pos) "
                                        "SELECT ?, student_id, order_no, order_no::DOUBLE FROM entries",
               [p["ceremony_id"]])


@grouped("ceremony.started", "ceremony.ended", "ceremony.settings", "ceremony.called", "ceremony.call_undone",
         "ceremony.skipped", "ceremony.requeued", "ceremony.status_set", "ceremony.absent_timeout",
         "stage.identified")
class CeremonyRun(Group):
    """Staff actions, timers and stage sensors: each ceremony is loaded once, the pure state machine runs over
    every event of the run in order, and what changed is written back once. Beams belong to the running
    ceremony; an RFID tag names the person who carries it."""

    tables = CEREMONY_TABLES | {"people.rfid_tag"}  # whose RFID tag a scan shows

    def __init__(self, cur: Cursor):
        super().__init__(cur)
        self.loaded: dict[str, _Loaded] = {}
        self.started: dict[str, tuple[str, datetime | None]] | None = None  # every ceremony: status, started_at
        self.flags: list[tuple] = []

    def add(self, e: Event) -> None:
        if e.kind not in _STAGE_SENSORS:
            self._fold(e.payload.get("ceremony_id"), e.kind, e.payload, e)
            return
        running = self._running()
        if running is None:
            return
        received = e.payload.get("received_ms")
        if isinstance(received, int) and abs(received - e.ts_ms) > STAGE_SENSOR_SKEW_MS:
            # A beam dated far from when it arrived (a replayed buffer, a wrong clock, a hostile device) would move
            # whoever is first in line now: kept as a flag for staff, never applied.
            self.flags.append((e.id, running, ts(e.ts_ms), "stale_sensor",
                               f"{e.kind} from {e.actor} dated {(e.ts_ms - received) / 1000:+.0f} s from its arrival"))
            return
        if e.kind == "rfid.scan" and e.payload.get("student_id"):
            # The scan of an erased person: the tag was taken out of the log, the pseudonym put in its place.
            self._fold(running, "stage.identified", {"student_id": e.payload["student_id"], "method": "rfid"}, e)
        elif e.kind == "rfid.scan":
            row = _first(self.cur.execute("SELECT student_id FROM people WHERE upper(rfid_tag) = ?",
                                   [e.payload["tag"]]))
            if row is None:
                self.flags.append((e.id, running, ts(e.ts_ms), "unknown_tag",
                                   f"RFID tag {e.payload['tag']} belongs to nobody"))
                return
            self._fold(running, "stage.identified", {"student_id": row[0], "method": "rfid"}, e)
        else:
            self._fold(running, e.kind, e.payload, e)

    def _running(self) -> str | None:
        if self.started is None:
            self.started = {r[0]: (r[1], ts(r[2])) for r in self.cur.execute(
                "SELECT ceremony_id, status, epoch_ms(started_at) FROM ceremonies").fetchall()}
        for cid, loaded in self.loaded.items():  # as folded so far in this run (not written back yet)
            self.started[cid] = (loaded.now.status, loaded.started_at)
        running = [(at, cid) for cid, (status, at) in self.started.items() if status == "running" and at is not None]
        return max(running)[1] if running else None

    def _fold(self, ceremony_id: str | None, kind: str, payload: dict, e: Event) -> None:
        if ceremony_id is None:
            return
        loaded = self.loaded.get(ceremony_id) or _Loaded.read(self.cur, ceremony_id)
        if loaded is None:
            return
        self.loaded[ceremony_id] = loaded
        c = loaded.now
        flags_before = len(c.flags)
        ceremony.apply(c, kind, payload, e.ts_ms)
        # As a write-back after each event would: started when first seen running, ended at the latest event.
        if c.status == "running" and loaded.started_at is None:
            loaded.started_at = ts(e.ts_ms)
        if c.status == "ended":
            loaded.ended_at = ts(e.ts_ms)
        self.flags += [(e.id, ceremony_id, ts(f.at_ms), f.kind, f.detail) for f in c.flags[flags_before:]]

    def flush(self) -> None:
        for loaded in self.loaded.values():
            loaded.write(self.cur)
        if self.flags:
            flags = pd.DataFrame(self.flags, columns=["event_id", "ceremony_id", "at_time", "kind", "detail"])
            _frame(self.cur, "flags", flags.astype({"event_id": object, "ceremony_id": object, "kind": object,
                                                     "detail": object}),
                   "INSERT INTO ceremony_flags SELECT event_id, ceremony_id, at_time, kind, detail FROM flags")
        self.loaded.clear()
        self.flags.clear()
        self.started = None


def _state(x: ceremony.Entry) -> tuple:
    """What a write-back stores of an entry (a plain tuple: far cheaper to copy and compare than the dataclass)."""
    return x.status, x.queue_pos, x.call_no, x.called_at_ms, x.on_stage_at_ms, x.received_at_ms, x.front_at_ms


class _Loaded:
    """A ceremony as read from the read model, and as the run has folded it since."""

    def __init__(self, c: ceremony.Ceremony, started_at: datetime | None, ended_at: datetime | None):
        self.now = c
        self.before = {sid: _state(x) for sid, x in c.entries.items()}
        self.started_at, self.ended_at = started_at, ended_at

    @classmethod
    def read(cls, cur: Cursor, ceremony_id: str) -> _Loaded | None:
        found = read_ceremony(cur, ceremony_id)
        if found is None:
            return None
        c, started_ms, ended_ms = found
        return cls(c, ts(started_ms), ts(ended_ms))

    def write(self, cur: Cursor) -> None:
        c = self.now
        cur.execute("UPDATE ceremonies SET status = ?, auto_advance = ?, calls = ?, absent_timeout_min = ?, "
                    "started_at = ?, ended_at = ? WHERE ceremony_id = ?",
                    [c.status, c.auto_advance, c.calls, c.absent_timeout_ms / 60_000, self.started_at, self.ended_at,
                     c.ceremony_id])
        changed = [x for sid, x in c.entries.items() if _state(x) != self.before[sid]]
        if not changed:
            return
        def instants(ms: list[int | None]) -> pd.Series:
            return pd.to_datetime(pd.Series(ms, dtype="Int64"), unit="ms", utc=True)

        df = pd.DataFrame({
            "student_id": pd.Series([x.student_id for x in changed], dtype=object),
            "status": pd.Series([x.status for x in changed], dtype=object),
            "queue_pos": [float(x.queue_pos) for x in changed],
            "call_no": pd.Series([x.call_no for x in changed], dtype="Int64"),
            "called_at": instants([x.called_at_ms for x in changed]),
            "on_stage_at": instants([x.on_stage_at_ms for x in changed]),
            "received_at": instants([x.received_at_ms for x in changed]),
            "front_at": instants([x.front_at_ms for x in changed])})
        _frame(cur, "changed", df, """
            UPDATE ceremony_entries e SET status = c.status, queue_pos = c.queue_pos, call_no = c.call_no,
                called_at = c.called_at, on_stage_at = c.on_stage_at, received_at = c.received_at,
                front_at = c.front_at
            FROM changed c WHERE e.ceremony_id = ? AND e.student_id = c.student_id""", [c.ceremony_id])


@handles("ceremony.links_revoked", CEREMONY_TABLES)
def _links_revoked(cur: Cursor, e: Event) -> None:
    cur.execute("UPDATE ceremonies SET links_generation = links_generation + 1 WHERE ceremony_id = ?",
                [e.payload["ceremony_id"]])


@handles("ceremony.lineup_checked", frozenset({"lineup_checks"}))
def _lineup_checked(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR IGNORE INTO lineup_checks VALUES (?, ?, ?, ?, ?, ?)",
                [e.id, p["ceremony_id"], p["student_id"], ts(e.ts_ms), p.get("face_match"), p.get("score")])


# --- faces ------------------------------------------------------------------------------------

FACE_TABLES = frozenset({"face_templates", "face_negatives", "face_state", "people.photo_count"})


def _faces_changed(cur: Cursor, times: int = 1) -> None:
    # The in-memory gallery compares this number to know when to reload.
    cur.execute("UPDATE face_state SET version = version + ? WHERE id = 1", [times])


def _refresh_photo_counts(cur: Cursor, student_ids: list[str]) -> None:
    ids = pd.DataFrame({"student_id": list(dict.fromkeys(student_ids))}, dtype=object)
    _frame(cur, "ids", ids, "UPDATE people SET photo_count = (SELECT count(*) FROM face_templates t "
                            "WHERE t.student_id = people.student_id) WHERE student_id IN (SELECT student_id FROM ids)")


@handles("consent.recorded", frozenset({"consents"}))
def _consent_recorded(cur: Cursor, e: Event) -> None:
    p = e.payload
    # Recording consent again (after a revocation) starts a new consent: the revocation fields clear.
    cur.execute("INSERT OR REPLACE INTO consents (student_id, method, purpose, recorded_by, recorded_at, revoked_at, "
                "revoked_by, revoke_reason) VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL)",
                [p["student_id"], p["method"], p.get("purpose"), e.actor, ts(e.ts_ms)])


@handles("consent.revoked", FACE_TABLES | {"consents"})
def _consent_revoked(cur: Cursor, e: Event) -> None:
    """Biometric processing ends with the consent: templates and hard negatives go (the key is shredded too)."""
    sid = e.payload["student_id"]
    cur.execute("UPDATE consents SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE student_id = ?",
                [ts(e.ts_ms), e.actor, e.payload.get("reason"), sid])
    cur.execute("DELETE FROM face_templates WHERE student_id = ?", [sid])
    cur.execute("DELETE FROM face_negatives WHERE student_id = ?", [sid])
    _refresh_photo_counts(cur, [sid])
    _faces_changed(cur)


@grouped("face.enrolled")
class Enrollments(Group):
    """Face templates, set-based: one insert, each person's photo count once, the gallery version moved once
    for every event (as one at a time would)."""

    tables = FACE_TABLES

    def __init__(self, cur: Cursor):
        super().__init__(cur)
        self.rows: list[dict[str, Any]] = []

    def add(self, e: Event) -> None:
        p = e.payload
        self.rows.append({"template_id": p["template_id"], "student_id": p["student_id"], "model": p["model"],
                          "detector": p["detector"], "quality": json.dumps(p.get("quality")),
                          "source": p.get("source"), "token": p["token"], "created_at": ts(e.ts_ms)})

    def flush(self) -> None:
        if not self.rows:
            return
        rows = pd.DataFrame(self.rows).astype({"source": object})
        rows["created_at"] = pd.to_datetime(rows["created_at"], utc=True)
        _frame(self.cur, "templates", rows.drop_duplicates("template_id"),
               "INSERT OR IGNORE INTO face_templates SELECT template_id, student_id, model, detector, quality, "
               "source, token, created_at FROM templates")
        _refresh_photo_counts(self.cur, list(rows["student_id"]))
        _faces_changed(self.cur, len(rows))
        self.rows.clear()


@handles("face.removed", FACE_TABLES)
def _face_removed(cur: Cursor, e: Event) -> None:
    p = e.payload
    if p.get("template_id"):
        cur.execute("DELETE FROM face_templates WHERE template_id = ?", [p["template_id"]])
    else:
        cur.execute("DELETE FROM face_templates WHERE student_id = ?", [p["student_id"]])
    _refresh_photo_counts(cur, [p["student_id"]])
    _faces_changed(cur)


@handles("face.not_this_person", FACE_TABLES)
def _face_not_this_person(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR IGNORE INTO face_negatives VALUES (?, ?, ?, ?, ?)",
                [e.id, p["student_id"], p["model"], p["token"], ts(e.ts_ms)])
    _faces_changed(cur)


# --- devices ----------------------------------------------------------------------------------

class DeviceTraffic(Group):
    """Everything a device posts feeds device health and history (it is high-volume: not audit material)."""

    tables = frozenset({"device_status", "device_events"})

    def __init__(self, cur: Cursor):
        super().__init__(cur)
        self.seen: dict[str, datetime] = {}  # device -> latest time heard from
        self.beats: dict[str, dict[str, Any]] = {}  # device -> its latest heartbeat
        self.rows: list[tuple] = []

    def add(self, e: Event) -> None:
        p = e.payload
        device_id = cast(str, p.get("device_id") or e.actor)  # the receiver sets both
        seen = ts(p.get("received_ms") or e.ts_ms)
        self.seen[device_id] = max(seen, self.seen.get(device_id, seen))
        if e.kind == "device.heartbeat":
            self.beats[device_id] = p
            return
        detail = p.get("tag") or (f"{_jpeg_bytes(p) // 1024} kB JPEG" if "jpeg_b64" in p or "jpeg_bytes" in p
                                  else None)
        self.rows.append((e.id, device_id, e.kind, ts(e.ts_ms), ts(p.get("received_ms")), detail))

    def flush(self) -> None:
        status = pd.DataFrame({"device_id": pd.Series(list(self.seen), dtype=object),
                               "seen": pd.to_datetime(list(self.seen.values()), utc=True)})
        if len(status):
            _frame(self.cur, "seen", status,
                   "INSERT INTO device_status (device_id, last_seen) SELECT device_id, seen FROM seen "
                   "ON CONFLICT (device_id) DO UPDATE SET last_seen = greatest(coalesce(device_status.last_seen, "
                   "excluded.last_seen), excluded.last_seen)")
        for device_id, p in self.beats.items():
            self.cur.execute("UPDATE device_status SET boot_id = ?, firmware = ?, uptime_s = ?, rssi = ?, "
                             "queue_depth = ?, free_heap = ? WHERE device_id = ?",
                             [p["boot_id"], p["firmware"], p["uptime_s"], p["rssi"], p["queue_depth"], p["free_heap"],
                              device_id])
        if self.rows:
            rows = pd.DataFrame(self.rows, columns=["event_id", "device_id", "kind", "at_time", "received_at",
                                                    "detail"]).astype({"detail": object})
            for col in ("at_time", "received_at"):
                rows[col] = pd.to_datetime(rows[col], utc=True)
            _frame(self.cur, "traffic", rows, "INSERT OR IGNORE INTO device_events SELECT event_id, device_id, kind, "
                                              "at_time, received_at, detail FROM traffic")
        self.seen.clear()
        self.beats.clear()
        self.rows.clear()


def _nothing(cur: Cursor, e: Event) -> None:
    """Kinds that change no table of their own: device traffic is folded by its source (above), the others are
    only audit material."""


for _kind in ("beam.front", "beam.back", "rfid.scan", "pir.trigger", "button.press", "device.heartbeat",
              "frame.captured", "device.registered", "device.revoked", "device.enabled", "person.erased",
              "auth.signed_out", "retention.purged"):
    _SOLO[_kind] = (_nothing, frozenset())


def _jpeg_bytes(p: dict[str, Any]) -> int:
    # A frame whose image retention purged keeps its size, so its row reads the same after a rebuild.
    return int(p["jpeg_bytes"]) if "jpeg_bytes" in p else len(p["jpeg_b64"]) * 3 // 4


@handles("face.unknown_seen", frozenset({"unknown_faces"}))
def _unknown_seen(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR IGNORE INTO unknown_faces VALUES (?, ?, ?, ?)",
                [e.id, ts(e.ts_ms), p.get("device_id") or p.get("source"), p.get("score")])


@handles("alert.sent", frozenset({"alerts"}))
def _alert_sent(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute("INSERT OR IGNORE INTO alerts VALUES (?, ?, ?, ?, ?, ?)",
                [e.id, ts(e.ts_ms), p["kind"], p.get("source"), p["status"], p.get("detail")])


@handles("frame.processed", DeviceTraffic.tables)
def _frame_processed(cur: Cursor, e: Event) -> None:
    p = e.payload
    found = p.get("error") or f"{p.get('faces', 0)} face(s), known: {', '.join(p.get('known', [])) or 'none'}"
    cur.execute("UPDATE device_events SET detail = concat_ws(' · ', detail, ?) WHERE event_id = ?",
                [found, p["frame_id"]])


# --- users and sign-in -----------------------------------------------------------------------

@handles("user.created", frozenset({"users"}))
def _user_created(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute(
        "INSERT OR REPLACE INTO users (username, display_name, role, student_id, password_hash, must_change, "
        "enabled, created_at) VALUES (?, ?, ?, ?, ?, ?, TRUE, ?)",
        [p["username"], p.get("display_name"), p["role"], p.get("student_id"), p["password_hash"],
         p.get("must_change", True), ts(e.ts_ms)],
    )


@handles("user.updated", frozenset({"users"}))
def _user_updated(cur: Cursor, e: Event) -> None:
    p = e.payload
    changes = {k: p[k] for k in ("display_name", "role", "student_id", "enabled") if k in p}
    if changes:
        sets = ", ".join(f"{k} = ?" for k in changes)
        cur.execute(f"UPDATE users SET {sets} WHERE username = ?", [*changes.values(), p["username"]])


@handles("user.password_set", frozenset({"users"}))
def _user_password_set(cur: Cursor, e: Event) -> None:
    p = e.payload
    cur.execute(
        "UPDATE users SET password_hash = ?, must_change = ?, failed_attempts = 0, locked_until = NULL "
        "WHERE username = ?",
        [p["password_hash"], p.get("must_change", False), p["username"]],
    )


@handles("auth.login_failed", frozenset({"users"}))
def _login_failed(cur: Cursor, e: Event) -> None:
    p = e.payload
    # A failure never shortens a lock (two instances, or two sign-ins at once, may report them out of order).
    cur.execute("UPDATE users SET failed_attempts = failed_attempts + 1, locked_until = greatest(locked_until, ?) "
                "WHERE username = ?", [ts(p.get("locked_until_ms")), p.get("username")])


@handles("auth.login_succeeded", frozenset({"users"}))
def _login_succeeded(cur: Cursor, e: Event) -> None:
    cur.execute("UPDATE users SET failed_attempts = 0, locked_until = NULL, last_login = ? WHERE username = ?",
                [ts(e.ts_ms), e.payload["username"]])


# --- privacy: tombstones, retention ----------------------------------------------------------

FACE_KINDS = ("face.enrolled", "face.removed", "face.not_this_person", "consent.revoked", "person.deleted")


@handles("redacted", frozenset({"face_state"}))
def _redacted(cur: Cursor, e: Event) -> None:
    """What erasure or retention left of an event. A face event still counts as a change of the gallery, so
    the face version of a rebuild equals the one of the live read model."""
    if e.payload.get("was") in FACE_KINDS:
        _faces_changed(cur)


# --- audit -----------------------------------------------------------------------------------

_SECRET_KEYS = {"password_hash", "secret", "token", "crop_token", "jpeg_b64"}


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
        part = f", part {p['part']} of {p['parts']}" if p.get("parts", 1) > 1 else ""
        return f"{len(p['rows'])} rows from {p.get('file_name')} ({p.get('encoding')}{part})"
    if e.kind == "retention.purged":
        return ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in p.get("counts", {}).items())
    # The fields as JSON (core.audit.detail_text words them, times in the local zone when shown).
    shown = {k: _shown(v) for k, v in p.items() if k not in _SECRET_KEYS and k != "reason"}
    return json.dumps(shown, ensure_ascii=False, separators=(",", ":"), default=str)


def _shown(value: Any) -> Any:
    # Nested secrets too (a check-in's evidence carries its encrypted face crop): the audit trail never shows them,
    # and redacting one from the log leaves the audit row as it was. Long lists are counted, long texts cut.
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items() if k not in _SECRET_KEYS}
    if isinstance(value, list | tuple):
        return [_shown(v) for v in value] if len(value) <= 5 else f"{len(value)} items"
    if isinstance(value, str) and len(value) > 200:
        return value[:199] + "…"
    return value


def write_audit(cur: Cursor, events: list[Event]) -> None:
    if not events:
        return
    rows = pd.DataFrame({"event_id": [e.id for e in events], "at_time": pd.to_datetime([ts(e.ts_ms) for e in events],
                                                                                         utc=True),
                         "actor": [e.actor for e in events], "action": [e.kind for e in events],
                         "target": [_target(e.payload) for e in events], "detail": [_detail(e) for e in events],
                         "reason": [e.payload.get("reason") for e in events]}).astype(
        {"event_id": object, "actor": object, "action": object, "target": object, "detail": object, "reason": object})
    _frame(cur, "audited", rows, "INSERT OR IGNORE INTO audit SELECT event_id, at_time, actor, action, target, detail, "
                                 "reason FROM audited")
