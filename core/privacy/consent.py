"""Consent: recorded, in force, revoked (with what revoking takes away), and the register staff search."""

from __future__ import annotations

import pandas as pd

from core.eventlog import Event
from core.privacy.common import PrivacyError, forget_face
from core.services import Rollcall


class ConsentRequiredError(PermissionError):
    """Biometric processing without consent in force (none recorded, or revoked)."""


def consent_record(app: Rollcall, student_id: str) -> dict | None:
    """The latest consent on record, revoked or not."""
    df = app.db.query("SELECT * FROM consents WHERE student_id = ?", [student_id])
    if df.empty:
        return None
    return {k: (None if v is pd.NaT or (not isinstance(v, str) and pd.isna(v)) else v)
            for k, v in df.iloc[0].to_dict().items()}


def consent_in_force(app: Rollcall, student_id: str) -> dict | None:
    """The consent in force (None when none was recorded, or it was revoked)."""
    record = consent_record(app, student_id)
    return None if record is None or record.get("revoked_at") is not None else record


def require_consent(app: Rollcall, student_id: str) -> None:
    """Refuse biometric processing of a person without consent in force, saying what to do."""
    if consent_in_force(app, student_id) is not None:
        return
    record = consent_record(app, student_id)
    if record is not None:
        raise ConsentRequiredError(f"Consent of {student_id} was revoked on {record['revoked_at']:%Y-%m-%d}: record "
                                   "consent again before enrolling photos.")
    raise ConsentRequiredError(f"No consent on record for {student_id}: record it before enrolling photos.")


def record_consent(app: Rollcall, student_id: str, method: str, actor: str,
                   purpose: str = "attendance and ceremony") -> None:
    """Consent given (how, for what): enrolling faces is allowed from now on."""
    if not method.strip():
        raise ConsentRequiredError("Say how consent was given (e.g. signed form, online form).")
    app.submit(Event.new("consent.recorded", {"student_id": student_id, "method": method.strip(),
                                              "purpose": purpose}, actor=actor))


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
        forget_face(app, student_id)
