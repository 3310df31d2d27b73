"""Figures for the overview page."""

from __future__ import annotations

import pandas as pd

from core.audit import describe
from core.ceremony import REHEARSAL_PREFIX
from core.services import Rollcall


def counts(app: Rollcall) -> dict[str, int]:
    row = app.db.query(
        """
        SELECT (SELECT count(*) FROM people) AS people,
               (SELECT count(*) FROM classes) AS classes,
               (SELECT count(*) FROM ceremonies WHERE NOT starts_with(ceremony_id, ?)) AS ceremonies,
               (SELECT count(*) FROM users WHERE enabled) AS users
        """, [REHEARSAL_PREFIX]
    ).iloc[0]
    return {k: int(v) for k, v in row.items()}


def ceremonies(app: Rollcall) -> pd.DataFrame:
    return app.db.query(
        """
        SELECT c.name, c.on_date, c.venue, count(e.student_id) AS graduates,
               count(*) FILTER (WHERE e.status = 'received') AS received
        FROM ceremonies c LEFT JOIN ceremony_entries e USING (ceremony_id)
        WHERE NOT starts_with(c.ceremony_id, ?)  -- a rehearsal is no ceremony (core/ceremony_tools.py)
        GROUP BY ALL ORDER BY c.on_date DESC
        """, [REHEARSAL_PREFIX]
    )


def recent_activity(app: Rollcall, limit: int = 15) -> pd.DataFrame:
    rows = app.db.query(
        "SELECT at_time, actor, action, target, reason FROM audit ORDER BY at_time DESC LIMIT ?", [limit]
    )
    rows["action"] = rows["action"].map(describe)
    return rows


def classes(app: Rollcall) -> pd.DataFrame:
    return app.db.query("SELECT class_id, name, department FROM classes ORDER BY name COLLATE th")
