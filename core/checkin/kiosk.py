"""The check-in kiosk's small rules: which check-in to welcome next, and the chime that goes with it."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

WELCOME_SECONDS = 6.0  # how long "✓ Welcome, <name>" stays up when nobody else comes


@dataclass(frozen=True)
class Welcome:
    key: str  # the record (person and time): a welcome is shown and sounded once
    student_id: str
    name: str
    status: str  # present | late


def next_welcome(latest: pd.DataFrame, since: datetime, last_key: str | None) -> Welcome | None:
    """The newest check-in of `latest` (core.attendance.latest_checkins, newest first) made since the kiosk was
    locked, unless it is the one welcomed last. Records from before the lock (another camera, a correction) are
    not welcomed here."""
    if latest.empty:
        return None
    row = latest.iloc[0]
    at = pd.Timestamp(row["checked_at"])
    if at.tzinfo is None:
        at = at.tz_localize("UTC")
    if at < pd.Timestamp(since):
        return None
    key = f"{row['student_id']}@{at.isoformat()}"
    if key == last_key:
        return None
    return Welcome(key, str(row["student_id"]), str(row["name"]), str(row["status"]))


def chime_wav(rate: int = 22_050) -> bytes:
    """A short two-note chime (E6 then A6, 0.12 s each, soft attack and decay) as a 16-bit mono WAV."""
    notes = []
    for freq in (1318.5, 1760.0):
        t = np.arange(int(0.12 * rate)) / rate
        envelope = np.minimum(1.0, t / 0.005) * np.exp(-t * 18)
        notes.append(0.5 * envelope * np.sin(2 * np.pi * freq * t))
    samples = (np.concatenate(notes) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()
