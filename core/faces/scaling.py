"""Detection at a reduced resolution while the faces in view are large: one camera's detector.

YuNet's cost follows the pixels it looks at (640×480 ≈ 4× the cost of 320×240), and a face 120 px wide is
found as well at a third of the size. So each frame is detected at the smallest scale that keeps the smallest
face of the last frame at least `min_face_px` wide, and at full resolution whenever it may miss one:
- nothing was in view in the last frame (a newcomer may be small, or far away);
- the reduced frame found fewer faces than the last one (a face shrank, turned, or left): the same frame is
  looked at again at full resolution;
- every `full_every`-th frame, so a small newcomer beside a large face is found within that many frames.
Measured on the labelled photos (tests/faces/test_scaling.py): with 40 px at the reduced scale, boxes agree with
full resolution and the aligned faces' embeddings are ≥ 0.9 alike; below ≈ 30 px YuNet starts to miss faces.
"""

from __future__ import annotations

from core.faces.engine import Face, FaceEngine

STEPS = (0.25, 0.375, 0.5, 0.75, 1.0)  # few sizes: a face's size jitters, the detector's input should not


class ScaledDetector:
    """Not thread-safe: one per camera (its state is the last frame's faces)."""

    def __init__(self, engine: FaceEngine, *, enabled: bool = True, min_face_px: int = 40, full_every: int = 8):
        if min_face_px < 1 or full_every < 1:
            raise ValueError("min_face_px and full_every must be at least 1")
        self.engine = engine
        self.enabled = enabled
        self.min_face_px = min_face_px
        self.full_every = full_every
        self.frames = 0
        self.last_scale = 1.0  # the scale the last frame's faces were found at
        self.full_runs = 0  # detections at full resolution (planned or as a fall-back)
        self._last: list[Face] = []
        self._shape: tuple[int, int] = (480, 640)  # the last frame's height and width

    def next_scale(self) -> float:
        """The scale for the next frame, from the last frame's faces."""
        if not self.enabled or not self._last or self.frames % self.full_every == 0:
            return 1.0
        base = min(1.0, 640 / max(self._shape))  # the engine's own cap on the detector's input
        smallest = min(min(f.box[2], f.box[3]) for f in self._last) * base
        wanted = self.min_face_px / max(smallest, 1)
        return next((s for s in STEPS if s >= wanted), 1.0)

    def detect(self, image) -> list[Face]:
        self._shape = image.shape[:2]
        scale = self.next_scale()
        faces = self.engine.detect(image, scale)
        if scale < 1 and len(faces) < len(self._last):
            scale = 1.0
            faces = self.engine.detect(image)
        if scale == 1.0:
            self.full_runs += 1
        self.frames += 1
        self.last_scale = scale
        self._last = faces
        return faces
