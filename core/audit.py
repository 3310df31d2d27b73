"""The audit trail (read side): every change by a person or device, folded from the event log."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from core.events import label
from core.services import Rollcall


def describe(action: str) -> str:
    """What an event kind means, in the words the audit trail shows (core/events.py lists them)."""
    return label(action)


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
