"""People: search, view, edit, delete, and committing a validated roster import."""

from __future__ import annotations

import pandas as pd

from core import roster
from core.eventlog import Event
from core.names import sort_sql
from core.projections import PERSON_FIELDS
from core.roster import RosterPreview
from core.services import Rollcall


class PersonError(ValueError):
    pass


def search(app: Rollcall, text: str = "", limit: int = 500) -> pd.DataFrame:
    """Match Thai or English name, id, department, guardian, phone or e-mail; Thai dictionary order of the name
    without its title (core.names)."""
    where, params = "", []
    if text.strip():
        like = f"%{text.strip().lower()}%"
        where = ("WHERE lower(student_id) LIKE ? OR lower(name) LIKE ? OR lower(coalesce(name_en,'')) LIKE ? "
                 "OR lower(coalesce(department,'')) LIKE ? OR lower(coalesce(guardian_name,'')) LIKE ? "
                 "OR coalesce(phone,'') LIKE ? OR lower(coalesce(email,'')) LIKE ?")
        params = [like] * 7
    return app.db.query(
        "SELECT student_id, name, name_en, department, guardian_name, phone, email, ceremony_order, photo_count "
        f"FROM people {where} ORDER BY {sort_sql('name')}, student_id LIMIT {int(limit)}",
        params,
    )


def get(app: Rollcall, student_id: str) -> dict | None:
    df = app.db.query("SELECT * FROM people WHERE student_id = ?", [student_id])
    return None if df.empty else {k: (None if pd.isna(v) else v) for k, v in df.iloc[0].to_dict().items()}


def count(app: Rollcall) -> int:
    return int(app.db.scalar("SELECT count(*) FROM people"))


def existing_ids(app: Rollcall, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    df = app.db.query("SELECT student_id FROM people WHERE student_id IN (SELECT unnest(?))", [ids])
    return set(df["student_id"])


def preview_summary(app: Rollcall, preview: RosterPreview) -> dict[str, int]:
    """How many rows would add a person and how many would update one (re-import never duplicates)."""
    known = existing_ids(app, [r.student_id for r in preview.rows])
    return {"new": sum(r.student_id not in known for r in preview.rows), "updated": len(known),
            "errors": preview.error_rows}


def commit_import(app: Rollcall, preview: RosterPreview, actor: str) -> int:
    """All or nothing: refused while any row has an error; otherwise one event carries every row."""
    if preview.errors:
        raise PersonError(f"{preview.error_rows} row(s) have errors; fix the file and upload it again.")
    if not preview.rows:
        raise PersonError("The file has no rows to import.")
    app.submit(*roster_events(preview, actor))
    return len(preview.rows)


ROSTER_ROWS_PER_EVENT = 1_000  # a Firestore document holds at most 1 MiB: a 50,000-row roster is 50 events


def roster_events(preview: RosterPreview, actor: str) -> list[Event]:
    """One import as events of at most ROSTER_ROWS_PER_EVENT rows, appended together (one append is atomic)."""
    rows = [r.as_payload() for r in preview.rows]
    present = sorted({k for r in rows for k, v in r.items() if v is not None})  # of the whole file, for every part
    parts = max(1, -(-len(rows) // ROSTER_ROWS_PER_EVENT))
    return [Event.new("roster.imported", {
        "file_name": preview.file_name, "encoding": preview.encoding, "columns": present, "part": n + 1,
        "parts": parts, "rows": rows[n * ROSTER_ROWS_PER_EVENT:(n + 1) * ROSTER_ROWS_PER_EVENT],
    }, actor=actor) for n in range(parts)]


def update(app: Rollcall, actor: str, student_id: str, changes: dict, reason: str | None = None) -> None:
    if get(app, student_id) is None:
        raise PersonError(f"No person with student id {student_id!r}.")
    unknown = set(changes) - set(PERSON_FIELDS)
    if unknown:
        raise PersonError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    clean = {}
    for field, value in changes.items():
        try:
            clean[field] = roster.clean_field(field, value)
        except ValueError as exc:
            raise PersonError(f"{roster.LABELS.get(field, field).capitalize()}: {exc}.") from None
    app.submit(Event.new("person.upserted", {"person": {"student_id": student_id, **clean}, "reason": reason},
                         actor=actor))


def delete(app: Rollcall, actor: str, student_id: str, reason: str | None = None) -> None:
    if get(app, student_id) is None:
        raise PersonError(f"No person with student id {student_id!r}.")
    app.submit(Event.new("person.deleted", {"student_id": student_id, "reason": reason}, actor=actor))


def departments(app: Rollcall) -> list[str]:
    df = app.db.query("SELECT DISTINCT department FROM people WHERE department IS NOT NULL "
                      "ORDER BY department COLLATE th")
    return list(df["department"])
