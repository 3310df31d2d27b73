"""Detection, alignment and embedding through DeepFace's models, loaded once per process.

Alignment matters: with YuNet's five landmarks the face is warped onto the 112×112 template the
ArcFace family (SFace included) was trained on. Measured on the package photos here, that lifts
genuine SFace similarities from about 0.40 (DeepFace's eye-line rotation + box crop) to 0.63–0.90,
with impostors at or below 0.31. Detectors without five landmarks fall back to an eye-line crop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from core.config import Settings
from core.faces import configure_environment, weights

# Five-point template (eyes, nose tip, mouth corners) of a 112×112 aligned face, image coordinates.
TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                          [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)
_DETECT_MAX_SIDE = 640  # YuNet works best at this size; boxes are mapped back to the full image


def _stop_spinning(model) -> None:
    """Rebuild an onnxruntime session without busy-waiting worker threads.

    By default onnxruntime's threads spin after each run and take the core OpenCV's detector needs
    next; measured here (bench/faces.py, 2 cores) end-to-end time drops from ~40 to ~33 ms per face.
    """
    import onnxruntime as ort

    session = getattr(model, "model", None)
    if not isinstance(session, ort.InferenceSession):
        return
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # the SFace graph triggers hundreds of harmless initializer warnings
    model.model = ort.InferenceSession(session._model_path, sess_options=options,
                                       providers=session.get_providers())


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in the image
    score: float  # detector confidence
    landmarks: np.ndarray | None  # 5×2: image-left eye, image-right eye, nose, mouth left, mouth right
    aligned: np.ndarray = field(repr=False)  # BGR crop at the model's input size
    embedding: np.ndarray | None = field(default=None, repr=False)  # L2-normalised


class FaceEngine:
    """Thread-safe. OpenCV detectors keep per-call state (the input size): YuNet gets one instance per thread,
    so several cameras detect at once; other detectors are serialised. Inference is shared."""

    def __init__(self, settings: Settings):
        configure_environment(settings)
        weights.require(settings, settings.face_detector, settings.face_model)
        from deepface.modules import modeling  # imported late: it reads the environment set above

        self.settings = settings
        self.detector_name = settings.face_detector
        self.model_name = settings.face_model
        self._detector = modeling.build_model(task="face_detector", model_name=self.detector_name)
        self._model = modeling.build_model(task="facial_recognition", model_name=self.model_name)
        _stop_spinning(self._model)
        self.input_size: tuple[int, int] = tuple(self._model.input_shape)  # (h, w)
        self._detect_lock = threading.Lock()
        self._local = threading.local()

    # --- detection -------------------------------------------------------------------------

    def detect(self, image: np.ndarray, scale: float = 1.0) -> list[Face]:
        """Every face in the image. `scale` < 1 detects on a smaller copy (cheaper: the cost follows the pixels;
        core.faces.scaling picks it from the faces' sizes); boxes and landmarks are always in `image`'s
        coordinates and the faces are aligned from the full image."""
        if not 0 < scale <= 1:
            raise ValueError(f"the detection scale must be in (0, 1], got {scale}")
        h, w = image.shape[:2]
        scale *= min(1.0, _DETECT_MAX_SIDE / max(h, w))
        small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale)))) if scale < 1 else image
        yunet = self._thread_yunet()
        if yunet is not None:
            raw = self._yunet_detect(yunet, small)
        else:
            with self._detect_lock:
                raw = self._raw_detect(small)
        faces = []
        for raw_box, score, landmarks in raw:
            x, y, bw, bh = (int(float(v) / scale + 0.5) for v in raw_box)
            box = (x, y, bw, bh)
            landmarks = None if landmarks is None else landmarks / scale
            faces.append(Face(box=box, score=score, landmarks=landmarks, aligned=self._align(image, box, landmarks)))
        return faces

    def _thread_yunet(self) -> cv2.FaceDetectorYN | None:
        """This thread's own YuNet (None for other detectors): built from the same weights DeepFace loaded."""
        if not isinstance(getattr(self._detector, "model", None), cv2.FaceDetectorYN):
            return None
        yunet = getattr(self._local, "yunet", None)
        if yunet is None:
            path = self.settings.weights_path / weights.NEEDS["yunet"][0]
            yunet = self._local.yunet = cv2.FaceDetectorYN.create(str(path), "", (0, 0))
        return yunet

    def _yunet_detect(self, yunet: cv2.FaceDetectorYN, image: np.ndarray):
        # DeepFace's wrapper keeps only the eyes; the raw model also gives nose and mouth.
        yunet.setInputSize((image.shape[1], image.shape[0]))
        yunet.setScoreThreshold(self.settings.yunet_score_threshold)
        _, rows = yunet.detect(image)
        return [((max(r[0], 0), max(r[1], 0), r[2], r[3]), float(r[14]), r[4:14].reshape(5, 2).astype(np.float32))
                for r in (rows if rows is not None else [])]

    def _raw_detect(self, image: np.ndarray) -> list[tuple[tuple[float, ...], float, np.ndarray | None]]:
        out: list[tuple[tuple[float, ...], float, np.ndarray | None]] = []
        for region in self._detector.detect_faces(image):
            eyes = None
            if region.left_eye and region.right_eye:
                # DeepFace names eyes from the person's view; order them left-to-right in the image.
                eyes = np.array(sorted([region.left_eye, region.right_eye]), np.float32)
            out.append(((region.x, region.y, region.w, region.h), float(region.confidence or 0.0), eyes))
        return out

    def _align(self, image: np.ndarray, box: tuple[int, ...], landmarks: np.ndarray | None) -> np.ndarray:
        out_h, out_w = self.input_size
        if landmarks is not None and len(landmarks) == 5:
            template = TEMPLATE_112 * np.array([out_w / 112, out_h / 112], np.float32)
            matrix, _ = cv2.estimateAffinePartial2D(landmarks, template, method=cv2.LMEDS)
            if matrix is not None:
                return cv2.warpAffine(image, matrix, (out_w, out_h), borderMode=cv2.BORDER_REPLICATE)
        x, y, w, h = box
        if landmarks is not None and len(landmarks) >= 2:
            (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
            angle = np.degrees(np.arctan2(ry - ly, rx - lx))
            rot = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
            image = cv2.warpAffine(image, rot, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        crop = image[max(y, 0):y + h, max(x, 0):x + w]
        return cv2.resize(crop if crop.size else image, (out_w, out_h))

    # --- embedding ---------------------------------------------------------------------------

    def embed(self, faces: list[Face]) -> list[Face]:
        for face in faces:
            vector = np.asarray(self._model.forward((face.aligned.astype(np.float32) / 255.0)[None]), np.float32)
            vector = vector.reshape(-1)
            face.embedding = vector / (np.linalg.norm(vector) or 1.0)
        return faces

    def analyze(self, image: np.ndarray) -> list[Face]:
        """Every face in the image, detected, aligned and embedded."""
        return self.embed(self.detect(image))
