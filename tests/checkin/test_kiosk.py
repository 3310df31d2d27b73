"""The kiosk's rules (core/checkin/kiosk.py): each new check-in is welcomed once; the chime is a real WAV."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime, timedelta

import pandas as pd

from core.checkin.kiosk import chime_wav, next_welcome

LOCKED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def latest(*rows: tuple[str, str, str, datetime]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["student_id", "name", "status", "checked_at"])


def test_each_check_in_since_the_lock_is_welcomed_once():
    first = latest(("6501001", "สมชาย ใจดี", "present", LOCKED + timedelta(seconds=5)))
    welcome = next_welcome(first, LOCKED, None)
    assert (welcome.student_id, welcome.name, welcome.status) == ("6501001", "สมชาย ใจดี", "present")
    assert next_welcome(first, LOCKED, welcome.key) is None  # the same record: not again
    second = latest(("6501002", "Ann Lee", "late", LOCKED + timedelta(seconds=9)),
                    ("6501001", "สมชาย ใจดี", "present", LOCKED + timedelta(seconds=5)))
    assert next_welcome(second, LOCKED, welcome.key).student_id == "6501002"


def test_records_from_before_the_lock_or_none_are_not_welcomed():
    assert next_welcome(latest(), LOCKED, None) is None
    before = latest(("6501001", "A", "present", LOCKED - timedelta(minutes=1)))
    assert next_welcome(before, LOCKED, None) is None
    naive = latest(("6501001", "A", "present", (LOCKED + timedelta(seconds=1)).replace(tzinfo=None)))
    assert next_welcome(naive, LOCKED, None) is not None  # DuckDB may hand back UTC without a zone


def test_the_chime_is_a_short_wav():
    with wave.open(io.BytesIO(chime_wav())) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2 and 0.2 <= seconds <= 0.3
