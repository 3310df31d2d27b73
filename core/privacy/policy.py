"""The written policy: what is stored, why, for how long, who sees it (from the settings)."""

from __future__ import annotations

import pandas as pd

from core.config import Settings
from core.privacy.retention import retention_rules


def _kept(days: int) -> str:
    if not days:
        return "until the person is erased"
    years = days / 365.25
    if years < 0.95:
        return f"{days} days"
    return f"{days} days (about {round(years)} year{'s' if round(years) > 1 else ''})"


def policy(settings: Settings) -> pd.DataFrame:
    """What is stored, why, for how long and who sees it: the periods come from the settings in force."""
    idle = settings.retention_template_idle_days
    template_life = "while consent is in force; removed at once when it is revoked"
    if idle:
        template_life += f", or after {_kept(idle)} without being recognised"
    rows = [
        {"Data": "Roster details",
         "What is stored": ("name (Thai, English), student id, department, guardian, phone, e-mail, ceremony order, "
                            "RFID card, pronunciation note"),
         "Why": "run classes and ceremonies; contact the person",
         "Kept for": "while the person is on the roster; removed by erasure",
         "Who can see it": "admin, operator; viewers see names in statistics"},
        {"Data": "Consent",
         "What is stored": "how and when consent was given, for what, who recorded it; a revocation with its reason",
         "Why": "biometric data needs written consent (BIPA; GDPR art. 9)",
         "Kept for": "with the person; removed by erasure", "Who can see it": "admin"},
        {"Data": "Face templates",
         "What is stored": "numbers computed from enrollment photos (not the photos), encrypted with a key per person",
         "Why": "recognise the person at check-in and on stage", "Kept for": template_life,
         "Who can see it": "no one (the matcher only)"},
        {"Data": "Enrollment photos",
         "What is stored": "only when an admin turns on keep_photos; encrypted with the person's key",
         "Why": "enroll again after a model change",
         "Kept for": "until consent is revoked or the person erased", "Who can see it": "no one"},
        {"Data": "Check-in face crops",
         "What is stored": "a small face image with each face check-in, encrypted with the person's key",
         "Why": "evidence when a record is disputed", "Kept for": _kept(settings.retention_crop_days),
         "Who can see it": "admin, operator"},
        {"Data": "Device camera images", "What is stored": "frames sent by ESP32-CAM cameras",
         "Why": "recognise faces at a door or the stage",
         "Kept for": _kept(settings.retention_frame_days) + "; the time and camera of each frame stay",
         "Who can see it": "no one (processed only)"},
        {"Data": "Attendance", "What is stored": "session, time, status, method, score; corrections with their reason",
         "Why": "the institution's attendance records",
         "Kept for": _kept(settings.retention_attendance_days) + " after the session",
         "Who can see it": "admin, operator, viewer; a student their own"},
        {"Data": "Unknown faces",
         "What is stored": ("time, camera and score of faces nobody matched, no image; with Telegram alerts on, "
                            "the photo goes to the Telegram chat"),
         "Why": "security at the door", "Kept for": "with the log (the Telegram copy: Telegram's own terms)",
         "Who can see it": "admin, operator; the alert chat's members"},
        {"Data": "Audit trail", "What is stored": "who changed what, when and why",
         "Why": "accountability", "Kept for": "with the event log; erasure puts a pseudonym in the person's place",
         "Who can see it": "admin"},
    ]
    return pd.DataFrame(rows)


def retention_summary(settings: Settings) -> list[tuple[str, str]]:
    return [(r.label, _kept(r.days)) for r in retention_rules(settings)]
