"""Face detection, embedding, quality, gallery and enrollment (DeepFace on onnxruntime, offline weights)."""

from __future__ import annotations

import os

from core.config import Settings


def configure_environment(settings: Settings) -> None:
    """DeepFace reads these at import / model-build time, so set them before it is imported."""
    os.environ["DEEPFACE_HOME"] = str(settings.deepface_path)
    # Pin the backend: a later torch / tensorflow install must not silently switch it.
    os.environ["DEEPFACE_BACKEND_ENGINE"] = "onnx"
    os.environ["yunet_score_threshold"] = str(settings.yunet_score_threshold)  # noqa: SIM112 (DeepFace's own name)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
