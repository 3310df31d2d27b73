"""What the blink check sees of a face: its eyes, its brows and its nose, compared between two frames.

Each frame's face is warped onto the 112×112 alignment template by a full affine fit of its five landmarks
(least squares, all five). A flat picture turned or tilted towards the camera is, to the camera, an affine
image of itself, so that fit undoes the turn: the eyes of a photo look the same in every view of it, and only
real eyelids make them change while the rest of the face does not. Two views are compared by normalised
correlation (immune to brightness and contrast) of each eye and of control patches on the brows and the nose,
each at its best shift by a few pixels (landmarks jitter), and by how far the landmarks moved against each other.

Measured on 17 photos in a 640×480 frame, turned up to ±24° in pitch and yaw (bench/liveness.py): where the
brows and the nose still correlate ≥ 0.90 and the landmarks moved ≤ 5 % of the eye distance, a photo's eyes
correlate ≥ 0.91 with themselves; eyes painted shut on the same photos fall to 0.39–0.79 (median 0.63).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.faces.engine import TEMPLATE_112

SCALE = 2  # the view is 224×224: eyes at 150 px faces keep their detail
BLUR_SIGMA = 0.5 * SCALE  # evens out sensor noise and resampling, keeps the iris
SHIFT = 3 * SCALE  # best match within ±3 template pixels
EYES = ((38.3, 51.7), (73.5, 51.5))  # template eye centres
EYE_HALF = (11, 7)  # half width, half height of an eye patch (template pixels)
# Still through a blink: the brows and the nose. A view warped wrongly (landmarks astray on a steep view of a
# photo) moves its brows against the eyes' neighbours, which the nose alone (smooth, long) can hide.
CONTROLS = (((56.0, 66.0), (12, 10)), ((56.0, 38.0), (28, 5)))
MIN_EYE_DISTANCE = 30  # pixels between the eyes (a face of about 75 px): smaller eyes are a few pixels tall


@dataclass(frozen=True)
class EyeView:
    image: np.ndarray  # uint8, the face on the template at SCALE, lightly blurred (50 KB: a window holds ~25)
    landmarks: np.ndarray  # the five landmarks in the frame


@dataclass(frozen=True)
class Likeness:
    eyes: tuple[float, float]  # correlation of each eye
    control: float  # correlation of the less alike of the control patches (brows, nose)
    moved: float  # largest landmark displacement after a similarity fit, over the eye distance

    @property
    def eyes_alike(self) -> float:
        """Both eyes look the same in the two views at least this much."""
        return min(self.eyes)

    @property
    def eyes_changed(self) -> float:
        """Both eyes changed: the more alike of the two correlates this much (a blink closes both)."""
        return max(self.eyes)


def eye_view(image: np.ndarray, landmarks: np.ndarray | None) -> EyeView | None:
    """The face of one frame (BGR or grey) ready for comparison; None without five landmarks or when the face
    is too small to see its eyelids."""
    if landmarks is None or len(landmarks) != 5 or np.linalg.norm(landmarks[1] - landmarks[0]) < MIN_EYE_DISTANCE:
        return None
    source = np.hstack([landmarks.astype(np.float64), np.ones((5, 1))])
    fit = np.linalg.lstsq(source, TEMPLATE_112.astype(np.float64) * SCALE, rcond=None)[0].T
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    side = 112 * SCALE
    view = cv2.warpAffine(gray, fit, (side, side), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return EyeView(cv2.GaussianBlur(view, (0, 0), BLUR_SIGMA), landmarks.astype(np.float32))


def _patch(view: np.ndarray, centre: tuple[float, float], half: tuple[int, int], margin: int = 0) -> np.ndarray:
    (cx, cy), (hw, hh) = centre, half
    x0, y0 = int((cx - hw) * SCALE) - margin, int((cy - hh) * SCALE) - margin
    return view[y0:y0 + 2 * hh * SCALE + 2 * margin, x0:x0 + 2 * hw * SCALE + 2 * margin]


def _alike(a: np.ndarray, b: np.ndarray, centre: tuple[float, float], half: tuple[int, int]) -> float:
    """Normalised correlation of a's patch with b's at the best shift within ±SHIFT."""
    scores = cv2.matchTemplate(_patch(b, centre, half, SHIFT), _patch(a, centre, half), cv2.TM_CCOEFF_NORMED)
    return float(np.nan_to_num(scores, nan=0.0).max())  # a featureless patch correlates with nothing


def _moved(a: np.ndarray, b: np.ndarray) -> float:
    fit, _ = cv2.estimateAffinePartial2D(b, a, method=cv2.LMEDS)
    if fit is None:
        return float("inf")
    mapped = b @ fit[:, :2].T + fit[:, 2]
    return float(np.abs(mapped - a).max() / max(np.linalg.norm(a[1] - a[0]), 1.0))


def compare(a: EyeView, b: EyeView) -> Likeness:
    left, right = (_alike(a.image, b.image, centre, EYE_HALF) for centre in EYES)
    control = min(_alike(a.image, b.image, *patch) for patch in CONTROLS)
    return Likeness(eyes=(left, right), control=control, moved=_moved(a.landmarks, b.landmarks))
