"""Turns ESP32-CAM frames in the event log into check-ins, as the webcam would.

The receiver only stores frames; this worker, in the app process, follows the log, runs the face
models on each new frame and appends what it found. Everything it appends has an id derived from
the frame, so a restart or a second app instance processing the same frame changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from datetime import datetime

from core.attendance import checkin_event
from core.eventlog import Event, now_ms
from core.eventlog.outbox import STORE_DOWN
from core.faces.images import ImageError, decode_image
from core.faces.weights import WeightsError
from core.services import Rollcall
from core.timeutil import from_ms
from core.workers import Poller

log = logging.getLogger(__name__)

NAME = "frames"
# Not about one frame: the models are missing or the store is down. The batch is tried again on the next tick
# (everything derived has an id made from the frame, so what did get appended is not appended twice).
RETRY: tuple[type[BaseException], ...] = (WeightsError, *STORE_DOWN)


class FrameError(ValueError):
    """This frame cannot be processed (its capture time, its image, its payload); the others can."""


def capture_time(ms: object) -> datetime:
    """The capture time as a datetime, or FrameError for one no clock can hold (e.g. the year 287396)."""
    if not isinstance(ms, int) or isinstance(ms, bool):
        raise FrameError(f"the capture time {ms!r} is not a number of milliseconds")
    try:
        at = from_ms(ms)
    except (ValueError, OverflowError, OSError):
        raise FrameError(f"the capture time {ms} ms is not a valid time (is the camera's clock set?)") from None
    if at.year < 1970:
        raise FrameError(f"the capture time {ms} ms is before 1970 (is the camera's clock set?)")
    return at


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
        """Process every frame not yet processed; returns how many frames were looked at.

        A frame that cannot be processed is recorded as processed with an `error` and skipped: one bad frame
        never keeps the worker's position from moving past it."""
        seen = 0
        with self._lock:
            while batch := self.app.log.read_after(self.cursor(), self.batch_size):
                outcomes = []
                for stored in batch:
                    if stored.event.kind == "frame.captured":
                        outcomes.append((stored.event, self._outcome(stored.event)))
                        seen += 1
                self._submit(outcomes)
                self._save(batch[-1].position)
        return seen

    def _outcome(self, frame: Event) -> list[Event]:
        """What the frame gives (check-ins, unknown faces, `frame.processed`), or its failure."""
        try:
            return self._look_at(frame)
        except RETRY:
            raise
        except (FrameError, ImageError) as exc:
            reason = str(exc)
        except Exception as exc:  # whatever it is, it is this frame's, and must not stop the rest
            log.exception("frame %s could not be processed; recorded as failed", frame.id)
            reason = f"could not be processed ({type(exc).__name__}: {exc})"
        return [self._failed(frame, reason)]

    def _failed(self, frame: Event, reason: str) -> Event:
        try:
            capture_time(frame.ts_ms)
            ts = frame.ts_ms
        except FrameError:  # the event's own time, not the impossible one
            received = frame.payload.get("received_ms") if isinstance(frame.payload, dict) else None
            ts = received if isinstance(received, int) and not isinstance(received, bool) and received > 0 else now_ms()
        device_id = frame.payload.get("device_id") if isinstance(frame.payload, dict) else None
        return Event(id=f"processed:{frame.id}", kind="frame.processed", ts_ms=ts, actor="frames", source="worker",
                     payload={"frame_id": frame.id, "device_id": device_id if isinstance(device_id, str) else None,
                              "error": reason[:500]})

    def _submit(self, outcomes: list[tuple[Event, list[Event]]]) -> None:
        derived = [event for _, events in outcomes for event in events]
        if not derived:
            return
        try:
            self.app.submit(*derived)
            return
        except RETRY:
            raise
        except Exception:  # one frame's results the store would not take: find which, frame by frame
            log.exception("the frames' results could not be stored together; storing them one frame at a time")
        for frame, events in outcomes:
            try:
                self.app.submit(*events)
            except RETRY:
                raise
            except Exception as exc:  # noqa: BLE001
                self.app.submit(self._failed(frame, f"its results could not be stored ({type(exc).__name__}: {exc})"))

    def _look_at(self, frame: Event) -> list[Event]:
        capture_time(frame.ts_ms)
        # A camera's clock may run ahead (or lie): a frame never counts as seen later than it reached the receiver.
        received = frame.payload.get("received_ms")
        seen_at = min(frame.ts_ms, received) if isinstance(received, int) and not isinstance(received, bool) \
            else frame.ts_ms
        device_id = frame.payload.get("device_id", frame.actor)
        if not isinstance(device_id, str):
            raise FrameError(f"the frame names no device ({device_id!r})")
        jpeg_b64 = frame.payload.get("jpeg_b64")
        if not isinstance(jpeg_b64, str) or not jpeg_b64:
            raise FrameError("the frame has no image (removed by retention, or never sent)")
        try:
            jpeg = base64.b64decode(jpeg_b64, validate=True)
        except (binascii.Error, ValueError):
            raise FrameError("the frame's image is not valid base64") from None

        def derived(event_id: str, kind: str, payload: dict) -> Event:
            return Event(id=event_id, kind=kind, ts_ms=frame.ts_ms, actor="frames", source="worker",
                         payload={"frame_id": frame.id, "device_id": device_id, **payload})

        image = decode_image(jpeg, frame.id, max_bytes=self.app.settings.max_image_bytes,
                             max_pixels=self.app.settings.max_image_pixels)
        matches = self.app.faces.match_faces(image)
        events, known = [], []
        for n, (_face, match) in enumerate(matches):
            if not match.known:
                events.append(derived(f"unknown:{frame.id}:{n}", "face.unknown_seen", {"score": match.score}))
                continue
            known.append(match.student_id)
            checkin = checkin_event(
                self.app, match.student_id, seen_at, "device-camera", "frames", source="worker",
                score=match.score, evidence={"frame_id": frame.id, "device_id": device_id,
                                             "runner_up_gap": match.runner_up_gap, "model": match.model,
                                             "threshold": match.threshold})
            if checkin is not None:
                events.append(checkin)
        events.append(derived(f"processed:{frame.id}", "frame.processed", {"faces": len(matches), "known": known}))
        return events

    def tick(self) -> int:
        return self.process_pending()
