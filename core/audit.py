"""The audit trail (read side): every change by a person or device, folded from the event log."""

from __future__ import annotations

import json
from datetime import date, tzinfo

import pandas as pd

from core.events import label
from core.services import Rollcall
from core.timeutil import day_bounds, from_ms


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
    params: list = list(day_bounds(start, end, tz))
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
    rows["detail"] = rows["detail"].map(lambda d: detail_text(d, tz))
    return rows


def detail_text(detail, tz: tzinfo, limit: int = 300) -> str:
    """An event's fields as a short line: `starts at: 2026-03-02 09:00:00 · status: excused` — epoch-ms fields
    (`…_ms`) as local date-times, nested fields by their own names, empty ones left out. Text that is not a
    field list (a roster import, a purge, rows written before this format) is shown as it is."""
    if detail is None or pd.isna(detail):
        return ""
    try:
        fields = json.loads(detail) if detail.startswith("{") else None
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        return detail
    parts = [f"{name}: {value}" for name, value in _flat(fields, tz)]
    text = " · ".join(parts)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _flat(fields: dict, tz: tzinfo):
    for key, value in fields.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, dict):
            yield from _flat(value, tz)
            continue
        name = key.removesuffix("_ms").replace("_", " ")
        if key.endswith("_ms") and isinstance(value, int | float) and not isinstance(value, bool):
            value = from_ms(value, tz).strftime("%Y-%m-%d %H:%M:%S")
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        yield name, value
