"""Detection at a reduced resolution (core.faces.scaling) finds the same faces as at full resolution, on real
photos, and never loses a small face for long."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.checkin.tracking import iou
from core.config import PROJECT_ROOT
from core.faces.engine import FaceEngine
from core.faces.scaling import ScaledDetector

JOHNS = PROJECT_ROOT.parent / "shared" / "datasets" / "johns"


@pytest.fixture(scope="module")
def engine():
    from core.config import Settings

    return FaceEngine(Settings())


def frame_with(*placed: tuple[np.ndarray, float, int, int]) -> np.ndarray:
    """A grey 640×480 frame with each photo scaled by its factor and pasted at (x, y)."""
    frame = np.full((480, 640, 3), 110, np.uint8)
    for image, factor, x, y in placed:
        image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        h, w = min(image.shape[0], 480 - y), min(image.shape[1], 640 - x)
        frame[y:y + h, x:x + w] = image[:h, :w]
    return frame


def johns(every: int = 4) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted(JOHNS.glob("*/*.jpg"))[::every]]


def same_faces(engine: FaceEngine, reduced: list, full: list) -> None:
    """Every face found at full resolution is found at the reduced one: overlapping box, alike embedding."""
    assert len(reduced) == len(full)
    engine.embed(reduced)
    engine.embed(full)
    for face in full:
        twin = max(reduced, key=lambda r: iou(r.box, face.box))
        assert iou(twin.box, face.box) >= 0.6, (twin.box, face.box)
        assert float(twin.embedding @ face.embedding) >= 0.85  # aligned from landmarks found at the smaller size


@pytest.mark.parametrize("factor", [1.0, 1.6])  # faces ≈ 120 px and ≈ 190 px wide in a 640×480 frame
def test_large_faces_are_found_at_a_reduced_resolution_as_at_full(engine, factor):
    for photo in johns():
        frame = frame_with((photo, factor, 200, 60))
        detector = ScaledDetector(engine)
        first = detector.detect(frame)
        assert detector.last_scale == 1.0 and len(first) == 1  # nothing seen before: full resolution
        assert detector.next_scale() <= 0.5
        reduced = detector.detect(frame)
        assert detector.last_scale <= 0.5
        same_faces(engine, reduced, engine.detect(frame))


def test_a_group_photo_gives_the_same_faces_at_a_reduced_resolution(engine, photos):
    group = cv2.imread(str(photos / "t1.jpg"))  # 6 faces
    frame = cv2.resize(group, (640, round(group.shape[0] * 640 / group.shape[1])))
    detector = ScaledDetector(engine)
    full = detector.detect(frame)
    assert len(full) == 6
    reduced = detector.detect(frame)
    same_faces(engine, reduced, engine.detect(frame))
    assert detector.last_scale == detector.next_scale()  # chosen for the smallest of the six


def test_a_small_face_beside_a_large_one_is_found_within_a_few_frames(engine):
    big, small = johns(11)[:2]
    alone = frame_with((big, 2.0, 40, 100))
    both = frame_with((big, 2.0, 40, 100), (small, 0.5, 480, 200))  # the newcomer's face ≈ 40 px wide
    assert len(engine.detect(both)) == 2  # found at full resolution
    detector = ScaledDetector(engine, full_every=8)
    for _ in range(3):
        detector.detect(alone)
    assert detector.last_scale <= 0.375  # only the large face in view: a small copy is enough
    found_after = next(n for n in range(1, 9) if len(detector.detect(both)) == 2)
    assert found_after <= detector.full_every
    for _ in range(10):  # from then on it is never lost: the scale follows the smallest face
        assert len(detector.detect(both)) == 2
    assert detector.last_scale >= 0.75


def test_a_face_lost_at_the_reduced_size_is_looked_for_at_full_resolution(engine):
    big, small = johns(11)[:2]
    both = frame_with((big, 2.0, 40, 100), (small, 0.5, 480, 200))
    detector = ScaledDetector(engine, min_face_px=10)  # pretend the small face can be found at a quarter size
    detector.detect(both)
    assert detector.next_scale() < 1
    full_runs = detector.full_runs
    assert len(detector.detect(both)) == 2  # not found at the small size, then found again at full
    assert detector.last_scale == 1.0 and detector.full_runs == full_runs + 1


def test_an_empty_frame_and_the_switch_off_use_full_resolution(engine):
    frame = frame_with((johns()[0], 1.6, 200, 60))
    empty = np.full((480, 640, 3), 110, np.uint8)
    detector = ScaledDetector(engine)
    detector.detect(frame)
    assert detector.next_scale() < 1
    assert detector.detect(empty) == [] and detector.last_scale == 1.0  # nothing found: looked at in full
    assert detector.next_scale() == 1.0
    off = ScaledDetector(engine, enabled=False)
    for _ in range(3):
        off.detect(frame)
        assert off.last_scale == 1.0
    with pytest.raises(ValueError, match="scale"):
        engine.detect(frame, 0)
