"""What the privacy modules share: the log read and rewritten (the one exception to append-only), tombstones,
where kept photos are and how a person's face is forgotten."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.config import Settings
from core.eventlog import Event, EventLog, StoredEvent
from core.services import Rollcall

DAY_MS = 86_400_000
ERASED = "[erased]"  # what a personal string becomes in free text (a reason, a note)


class PrivacyError(ValueError):
    """A refused privacy action, with a message fit to show."""


# --- the log, read and rewritten -------------------------------------------------------------

def iter_log(log: EventLog, after: int = 0, batch: int = 1000) -> Iterator[StoredEvent]:
    while chunk := log.read_after(after, batch):
        yield from chunk
        after = chunk[-1].position


def tombstone(event: Event) -> Event:
    """What is left of an event that had to go: its time and kind, under a new id, with no actor or data."""
    return Event(id=f"redacted:{uuid.uuid4().hex}", kind="redacted", ts_ms=event.ts_ms, payload={"was": event.kind},
                 actor=None, source="system")


def rewrite_events(log: EventLog, changes: dict[str, Event], chunk: int = 500) -> int:
    items = list(changes.items())
    return sum(log.rewrite(dict(items[n:n + chunk])) for n in range(0, len(items), chunk))


def photo_folder(settings: Settings, student_id: str) -> Path:
    """Where kept enrollment photos of a person are (encrypted; only with keep_photos on)."""
    return settings.data_path / "photos" / hashlib.sha256(student_id.encode()).hexdigest()[:20]


def forget_face(app: Rollcall, student_id: str) -> int:
    """Shred the person's key, delete their kept photos, and make the running face service forget them."""
    app.keys.erase(student_id)
    folder = photo_folder(app.settings, student_id)
    photos = len(list(folder.glob("*"))) if folder.exists() else 0
    shutil.rmtree(folder, ignore_errors=True)
    if (faces := app.loaded_faces) is not None:
        faces.forget(student_id)
    return photos



def replaced(e: Event, **changes: Any) -> Event:
    return Event(**{"id": e.id, "kind": e.kind, "ts_ms": e.ts_ms, "payload": e.payload, "actor": e.actor,
                    "source": e.source, **changes})
