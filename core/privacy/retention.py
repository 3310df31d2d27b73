"""Retention: each kind of personal data kept for its period, then removed from the log and the read model in
one step (a worker does it every `retention_check_minutes`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from core.config import Settings
from core.eventlog import Event, StoredEvent
from core.privacy.common import DAY_MS, iter_log, replaced, rewrite_events, tombstone
from core.services import Rollcall
from core.timeutil import from_ms, to_ms
from core.workers import Poller


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
                                        [from_ms(cut["attendance"])])["session_id"])
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
                [from_ms(cut["templates"])])
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
                changes[e.id] = replaced(e, payload={**kept, "jpeg_bytes": len(p["jpeg_b64"]) * 3 // 4})
                counts["frames"] += 1
            elif e.kind in ("attendance.recorded", "attendance.corrected") and p.get("session_id") in old_sessions:
                changes[e.id] = tombstone(e)
                dropped.add(e.id)
                counts["attendance"] += 1
            elif (e.kind == "attendance.recorded" and cut["crops"] and (p.get("evidence") or {}).get("crop_token")
                  and _at_ms(e) < cut["crops"]):
                evidence = {k: v for k, v in p["evidence"].items() if k != "crop_token"}
                changes[e.id] = replaced(e, payload={**p, "evidence": evidence})
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
                rewrite_events(app.log, changes)
            with db.write() as cur:
                if old_sessions:
                    cur.execute("DELETE FROM evidence_crops WHERE session_id IN (SELECT unnest(?))",
                                [sorted(old_sessions)])
                    cur.execute("DELETE FROM attendance WHERE session_id IN (SELECT unnest(?))", [sorted(old_sessions)])
                if cut["crops"]:
                    cur.execute("DELETE FROM evidence_crops WHERE at_time < ?", [from_ms(cut["crops"])])
                if idle:
                    cur.execute("DELETE FROM face_templates WHERE template_id IN (SELECT unnest(?))", [sorted(idle)])
                    for sid in set(idle.values()):
                        cur.execute("UPDATE people SET photo_count = (SELECT count(*) FROM face_templates WHERE "
                                    "student_id = ?) WHERE student_id = ?", [sid, sid])
                if negatives:
                    cur.execute("DELETE FROM face_negatives WHERE event_id IN (SELECT unnest(?))", [sorted(negatives)])
                if dropped:
                    cur.execute("DELETE FROM audit WHERE event_id IN (SELECT unnest(?))", [sorted(dropped)])
        cutoffs = {kind: (from_ms(ms) if ms else None) for kind, ms in cut.items()}
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
