"""Quality gates for enrollment photos: size, sharpness, exposure, head turn."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from core.config import Settings
from core.faces.engine import Face


@dataclass(frozen=True)
class Quality:
    face_px: int
    sharpness: float
    brightness: float
    yaw_degrees: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"face_px": self.face_px, "sharpness": round(self.sharpness, 1),
                "brightness": round(self.brightness, 1),
                "yaw_degrees": None if self.yaw_degrees is None else round(self.yaw_degrees, 1)}


def estimate_yaw(landmarks: np.ndarray | None) -> float | None:
    """Head turn left/right in degrees from five landmarks: how far the nose sits off the eye midline."""
    if landmarks is None or len(landmarks) < 3:
        return None
    left_eye, right_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    half_span = np.linalg.norm(right_eye - left_eye) / 2
    if half_span < 1:
        return None
    offset = (nose[0] - (left_eye[0] + right_eye[0]) / 2) / half_span
    return float(np.degrees(np.arcsin(np.clip(offset, -1.0, 1.0))))


def assess(face: Face, settings: Settings) -> Quality:
    gray = cv2.cvtColor(face.aligned, cv2.COLOR_BGR2GRAY)
    face_px = int(min(face.box[2], face.box[3]))
    sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    brightness = float(gray.mean())
    yaw = estimate_yaw(face.landmarks)
    problems = []
    if face_px < settings.min_face_px:
        problems.append(f"face too small ({face_px} px; at least {settings.min_face_px} px)")
    if sharpness < settings.min_sharpness:
        problems.append(f"too blurred (sharpness {sharpness:.0f}; at least {settings.min_sharpness:.0f})")
    if brightness < settings.min_brightness:
        problems.append(f"too dark (brightness {brightness:.0f}; at least {settings.min_brightness:.0f})")
    elif brightness > settings.max_brightness:
        problems.append(f"too bright (brightness {brightness:.0f}; at most {settings.max_brightness:.0f})")
    if yaw is not None and abs(yaw) > settings.max_yaw_degrees:
        problems.append(f"head turned too far ({abs(yaw):.0f}°; at most {settings.max_yaw_degrees:.0f}°)")
    return Quality(face_px, sharpness, brightness, yaw, problems)


def main_faces(faces: list[Face], ratio: float = 0.25) -> list[Face]:
    """Faces big enough to matter: a passer-by far behind the subject does not make it a group photo."""
    if not faces:
        return []
    largest = max(f.box[2] * f.box[3] for f in faces)
    return [f for f in faces if f.box[2] * f.box[3] >= ratio * largest]
