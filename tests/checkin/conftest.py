from __future__ import annotations

import time
from datetime import date

import cv2
import numpy as np
import pytest

from core.demo import load_demo
from core.eventlog import Event

OBAMA, BIDEN = "6501001", "6501002"  # enrolled with their photos; both in class LIVE
OUTSIDER = "6501003"  # enrolled, not in the class
STRANGER = "unknowns/Female_40-2_1.jpg"


def event(kind: str, payload: dict, actor: str = "test") -> Event:
    return Event(id=f"{kind}:{time.time_ns()}", kind=kind, ts_ms=int(time.time() * 1000), actor=actor,
                 payload=payload)


def schedule(app, session_id: str, *, minutes_ago: float = 5, length_min: float = 60, late_after_min: int = 10,
             start: bool = True, **setup) -> None:
    now_ms = int(time.time() * 1000)
    starts = now_ms - int(minutes_ago * 60_000)
    app.submit(event("session.scheduled", {"session_id": session_id, "class_id": "LIVE", "starts_at_ms": starts,
                                           "ends_at_ms": starts + int(length_min * 60_000),
                                           "late_after_min": late_after_min}))
    if start:
        app.submit(event("session.started", {"session_id": session_id, "late_after_min": late_after_min,
                                             "liveness": setup.get("liveness", "off"),
                                             "once_per_day": setup.get("once_per_day", False),
                                             "qr_needs_face": setup.get("qr_needs_face", False)}))


@pytest.fixture
def live_app(app, photos):
    load_demo(app, today=date.today())
    app.submit(event("class.upserted", {"class_id": "LIVE", "name": "Live check-in", "department": None,
                                        "teacher": None, "members": [OBAMA, BIDEN]}))
    hanks = cv2.imread(str(photos / "Tom_Hanks_54745.png"))  # his face is 76 px: enrol him from a bigger copy
    bigger = cv2.imencode(".jpg", cv2.resize(hanks, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC))[1].tobytes()
    for sid, named in ((OBAMA, [(n, (photos / n).read_bytes()) for n in ("obama.jpg", "obama3.jpg")]),
                       (BIDEN, [("biden.jpg", (photos / "biden.jpg").read_bytes())]),
                       (OUTSIDER, [("hanks.jpg", bigger)])):
        app.faces.record_consent(sid, "signed form", "test")
        verdicts = app.faces.enroll(sid, named, "test")
        assert all(v.accepted for v in verdicts), verdicts
    return app


def canvas(*images: np.ndarray, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """The images side by side on a grey 640×480 frame, each scaled to fit its slot."""
    w, h = size
    frame = np.full((h, w, 3), 110, np.uint8)
    slot = w // max(1, len(images))
    for n, image in enumerate(images):
        scale = min(slot / image.shape[1], h / image.shape[0])
        small = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)))
        y, x = (h - small.shape[0]) // 2, n * slot + (slot - small.shape[1]) // 2
        frame[y:y + small.shape[0], x:x + small.shape[1]] = small
    return frame


@pytest.fixture
def picture(photos):
    def load(name: str) -> np.ndarray:
        return cv2.imread(str(photos / name))
    return load
