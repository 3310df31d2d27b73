"""Scenes for the liveness checks, made from still photos: a photo held up and turned in 3-D, a print of it,
and — since no blink video ships in a package — a blink painted onto a photo (the eyelid drawn down over each
eye). Used by tests/checkin and bench/liveness.py."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

GREY = (110, 110, 110)


def turned(image: np.ndarray, pitch_deg: float = 0, yaw_deg: float = 0, roll_deg: float = 0, *,
           scale: float = 1.0, shift: tuple[float, float] = (0, 0), focal: float = 800) -> np.ndarray:
    """The picture as a flat card turned by these angles in front of a pinhole camera (perspective included)."""
    h, w = image.shape[:2]
    rotation = cv2.Rodrigues(np.radians([pitch_deg, yaw_deg, roll_deg]).astype(np.float64))[0]
    corners = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]])
    camera = np.array([[focal * scale, 0, w / 2 + shift[0]], [0, focal * scale, h / 2 + shift[1]], [0, 0, 1]])
    seen = (camera @ (rotation @ corners.T + np.array([[0], [0], [focal]]))).T
    target = (seen[:, :2] / seen[:, 2:]).astype(np.float32)
    source = (corners[:, :2] + [w / 2, h / 2]).astype(np.float32)
    return cv2.warpPerspective(image, cv2.getPerspectiveTransform(source, target), (w, h), borderValue=GREY)


def printed(image: np.ndarray, seed: int = 0) -> np.ndarray:
    """An ink-jet print of the photo filmed again: duller colours, paper grain, a little softness."""
    rng = np.random.default_rng(seed)
    dull = 60 + image.astype(np.float32) * 0.65
    grain = rng.normal(0, 5, image.shape[:2])[..., None]
    return cv2.GaussianBlur(np.clip(dull + grain, 0, 255).astype(np.uint8), (0, 0), 0.8)


def with_noise(image: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    """A webcam's sensor noise, new in every frame."""
    return np.clip(image.astype(np.float32) + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def eyes_shut(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The photo with both eyes painted shut: the lid (the skin above the eye) drawn down over it, a lash line."""
    out = image.copy()
    span = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    rw, rh = int(span * 0.28), int(span * 0.14)
    for ex, ey in landmarks[:2]:
        x0, x1, y0, y1 = int(ex - rw), int(ex + rw), int(ey - rh), int(ey + rh)
        lid = cv2.resize(image[y0 - 2 * rh:y0, x0:x1].astype(np.float32), (x1 - x0, y1 - y0))
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.ellipse(mask, ((x1 - x0) // 2, (y1 - y0) // 2), (rw, rh), 0, 0, 360, 1, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, rh / 3))[..., None]
        out[y0:y1, x0:x1] = (mask * lid + (1 - mask) * out[y0:y1, x0:x1]).astype(np.uint8)
        cv2.ellipse(out, (int(ex), int(ey + rh * 0.3)), (int(rw * 0.8), max(1, int(rh * 0.4))), 0, 20, 160,
                    (40, 35, 35), max(1, int(span / 40)))
    return out


def held_and_turned(photo: np.ndarray, frames: int, seed: int = 0, most_deg: float = 30) -> Iterator[np.ndarray]:
    """A photo held up to the camera: it wanders, turns and tilts in 3-D (up to `most_deg`), shakes a little,
    and sometimes snaps back — every trick that might make its eyes look different for a moment."""
    rng = np.random.default_rng(seed)
    pitch = yaw = roll = 0.0
    for n in range(frames):
        pitch = float(np.clip(pitch + rng.normal(0, 4), -most_deg, most_deg))
        yaw = float(np.clip(yaw + rng.normal(0, 4), -most_deg, most_deg))
        roll = float(np.clip(roll + rng.normal(0, 2), -10, 10))
        if n % 25 == 24:  # a quick flick back to facing the camera
            pitch = yaw = 0.0
        shift = (15 * np.sin(n / 6), 10 * np.cos(n / 8))
        frame = turned(photo, pitch, yaw, roll, scale=1.0 + 0.05 * np.sin(n / 9), shift=shift)
        yield with_noise(frame, rng)


def blinking(photo: np.ndarray, shut: np.ndarray, seed: int = 0, closed_frames: int = 2) -> Iterator[np.ndarray]:
    """A person facing the camera who blinks once (at 15 frames a second, a blink of about 130 ms), standing
    not quite still."""
    rng = np.random.default_rng(seed)
    for n in range(10 + closed_frames + 10):
        closed = 10 <= n < 10 + closed_frames
        frame = turned(shut if closed else photo, rng.normal(0, 1), rng.normal(0, 1), rng.normal(0, 0.5),
                       shift=(rng.normal(0, 1.5), rng.normal(0, 1.5)))
        yield with_noise(frame, rng)
