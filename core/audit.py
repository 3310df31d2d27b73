"""The audit trail (read side): every change by a person or device, folded from the event log."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from core.services import Rollcall


def actions(app: Rollcall) -> list[str]:
    return list(app.db.query("SELECT DISTINCT action FROM audit ORDER BY action")["action"])


def search(app: Rollcall, *, start: date, end: date, action: str | None = None, text: str = "",
           limit: int = 2000) -> pd.DataFrame:
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
    return app.db.query(
        f"SELECT at_time, actor, action, target, detail, reason FROM audit WHERE {' AND '.join(where)} "
        f"ORDER BY at_time DESC LIMIT {int(limit)}",
        params,
    )
