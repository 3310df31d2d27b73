"""The audit trail (read side): every change by a person or device, folded from the event log."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from core.services import Rollcall

# What each kind of event means, in the words the audit trail shows (a kind not listed shows as itself).
ACTIONS = {
    "roster.imported": "Imported a roster", "person.upserted": "Edited a person", "person.deleted": "Deleted a person",
    "consent.recorded": "Recorded consent", "face.enrolled": "Enrolled a face", "face.removed": "Removed faces",
    "face.not_this_person": "Marked a wrong match",
    "class.upserted": "Saved a class", "schedule.upserted": "Saved a schedule", "schedule.removed": "Removed a schedule",
    "session.scheduled": "Scheduled a session", "session.started": "Started attendance",
    "session.ended": "Ended attendance", "attendance.recorded": "Checked in",
    "attendance.corrected": "Corrected attendance",
    "ceremony.created": "Created a ceremony", "ceremony.started": "Started a ceremony",
    "ceremony.ended": "Ended a ceremony", "ceremony.settings": "Changed ceremony settings",
    "ceremony.called": "Called a graduate", "ceremony.call_undone": "Undid a call",
    "ceremony.skipped": "Skipped a graduate", "ceremony.requeued": "Re-queued a graduate",
    "ceremony.status_set": "Changed a graduate's status", "ceremony.lineup_checked": "Checked a card at line-up",
    "user.created": "Added a user", "user.updated": "Changed a user", "user.password_set": "Set a password",
    "auth.login_failed": "Failed sign-in", "auth.login_succeeded": "Signed in",
    "device.registered": "Registered a device",
    "consent.revoked": "Revoked consent", "person.erased": "Erased a person",
    "retention.purged": "Purged expired data",
}


def describe(action: str) -> str:
    return ACTIONS.get(action, action)


def actions(app: Rollcall) -> list[str]:
    return list(app.db.query("SELECT DISTINCT action FROM audit ORDER BY action")["action"])


def search(app: Rollcall, *, start: date, end: date, action: str | None = None, text: str = "",
           limit: int = 2000) -> pd.DataFrame:
    """Entries of local days [start, end], newest first; `action` is an event kind, shown in plain words."""
    tz = app.settings.tz
    where = ["at_time >= ?", "at_time < ?"]
    params: list = [datetime.combine(start, datetime.min.time(), tz),
                    datetime.combine(end + timedelta(days=1), datetime.min.time(), tz)]
    if action:
        where.append("action = ?")
        params.append(action)
    if text.strip():
        where.append("(lower(coalesce(actor,'')) LIKE ? OR lower(coalesce(target,'')) LIKE ? "
                     "OR lower(coalesce(detail,'')) LIKE ? OR lower(coalesce(reason,'')) LIKE ?)")
        params += [f"%{text.strip().lower()}%"] * 4
    rows = app.db.query(
        f"SELECT at_time, actor, action, target, detail, reason FROM audit WHERE {' AND '.join(where)} "
        f"ORDER BY at_time DESC LIMIT {int(limit)}",
        params,
    )
    rows["action"] = rows["action"].map(describe)
    return rows
