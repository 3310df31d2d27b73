"""Is this box keeping up with its camera? Told from the frame processor's own timing.

streamlit-webrtc hands the processor the newest frame and drops the ones that arrived while it was busy. So a
processor that is busy nearly all the time and still below the frame rate check-in needs is dropping frames
because the box is too slow (too many cameras, another heavy job), not because the camera sends few frames; a
camera that sends few frames leaves the processor idle in between, and that is not an overload.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadStatus:
    fps: float  # frames processed per second over the window
    busy: float  # share of the window spent processing frames (0..1)
    frame_ms: float  # mean processing time of a frame over the window
    overloaded: bool
    message: str | None  # what the operator should see, when overloaded


class LoadMonitor:
    """Frames processed over the last `window_s` seconds: their start and end times (monotonic seconds)."""

    def __init__(self, min_fps: float = 15.0, *, window_s: float = 2.0, busy_limit: float = 0.85,
                 clock: Callable[[], float] = time.monotonic):
        if min_fps <= 0 or window_s <= 0 or not 0 < busy_limit <= 1:
            raise ValueError("min_fps and window_s must be positive, busy_limit in (0, 1]")
        self.min_fps, self.window_s, self.busy_limit, self.clock = min_fps, window_s, busy_limit, clock
        self._frames: deque[tuple[float, float]] = deque()

    def frame(self, started: float, ended: float) -> None:
        self._frames.append((started, ended))
        self._forget(ended)

    def _forget(self, now: float) -> None:
        while self._frames and self._frames[0][1] < now - self.window_s:
            self._frames.popleft()

    def status(self) -> LoadStatus:
        now = self.clock()
        self._forget(now)
        frames = list(self._frames)
        if len(frames) < 2 or now - frames[0][0] < self.window_s / 2:
            return LoadStatus(0.0, 0.0, 0.0, False, None)  # too little video to judge (or none: camera off)
        span = now - frames[0][0]
        work = sum(end - start for start, end in frames)
        fps, busy, frame_ms = len(frames) / span, min(1.0, work / span), 1000 * work / len(frames)
        overloaded = fps < self.min_fps and busy >= self.busy_limit
        message = None
        if overloaded:
            message = (f"This box is overloaded: {fps:.0f} frames a second are checked (check-in needs "
                       f"{self.min_fps:.0f}); {frame_ms:.0f} ms a frame, the rest are dropped. Faces are recognised "
                       f"later and quick passers-by can be missed: stop a camera on this box or move it to another.")
        return LoadStatus(fps, busy, frame_ms, overloaded, message)
