"""Turns ESP32-CAM frames in the event log into check-ins, as the webcam would.

The receiver only stores frames; this worker, in the app process, follows the log, runs the face
models on each new frame and appends what it found. Everything it appends has an id derived from
the frame, so a restart or a second app instance processing the same frame changes nothing.
"""

from __future__ import annotations

import base64
import threading

from core.attendance import checkin_event
from core.eventlog import Event
from core.faces.images import ImageError, decode_image
from core.services import Rollcall
from core.workers import Poller

NAME = "frames"


class FrameWorker(Poller):
    name = "rollcall-frames"

    def __init__(self, app: Rollcall, batch_size: int = 50):
        super().__init__()
        self.app = app
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def cursor(self) -> int:
        value = self.app.db.scalar("SELECT cursor FROM processor_state WHERE name = ?", [NAME])
        return int(value or 0)

    def _save(self, position: int) -> None:
        with self.app.db.write() as cur:
            cur.execute("INSERT OR REPLACE INTO processor_state VALUES (?, ?)", [NAME, position])

    def process_pending(self) -> int:
        """Process every frame not yet processed; returns how many frames were looked at."""
        seen = 0
        with self._lock:
            while batch := self.app.log.read_after(self.cursor(), self.batch_size):
                derived = []
                for stored in batch:
                    if stored.event.kind == "frame.captured":
                        derived += self._look_at(stored.event)
                        seen += 1
                if derived:
                    self.app.submit(*derived)
                self._save(batch[-1].position)
        return seen

    def _look_at(self, frame: Event) -> list[Event]:
        device_id = frame.payload.get("device_id", frame.actor)

        def derived(event_id: str, kind: str, payload: dict) -> Event:
            return Event(id=event_id, kind=kind, ts_ms=frame.ts_ms, actor="frames", source="worker",
                         payload={"frame_id": frame.id, "device_id": device_id, **payload})

        try:
            image = decode_image(base64.b64decode(frame.payload["jpeg_b64"]), frame.id,
                                 max_bytes=self.app.settings.max_image_bytes,
                                 max_pixels=self.app.settings.max_image_pixels)
        except (ImageError, ValueError, KeyError) as exc:
            return [derived(f"processed:{frame.id}", "frame.processed", {"error": str(exc)})]
        matches = self.app.faces.match_faces(image)
        events, known = [], []
        for n, (_face, match) in enumerate(matches):
            if not match.known:
                events.append(derived(f"unknown:{frame.id}:{n}", "face.unknown_seen", {"score": match.score}))
                continue
            known.append(match.student_id)
            checkin = checkin_event(
                self.app, match.student_id, frame.ts_ms, "device-camera", "frames", source="worker",
                score=match.score, evidence={"frame_id": frame.id, "device_id": device_id,
                                             "runner_up_gap": match.runner_up_gap, "model": match.model,
                                             "threshold": match.threshold})
            if checkin is not None:
                events.append(checkin)
        events.append(derived(f"processed:{frame.id}", "frame.processed", {"faces": len(matches), "known": known}))
        return events

    def tick(self) -> int:
        return self.process_pending()
