"""Bulk enrollment from a .zip whose file or folder names carry the student id.

Accepted names: `6501001.jpg`, `6501001_2.jpg`, `6501001-side.png`, `6501001/any name.jpg`.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.faces.service import ConsentRequiredError, EnrollmentError, FaceService, PhotoVerdict

_IMAGE = re.compile(r"\.(jpe?g|png)$", re.IGNORECASE)
# An id is letters and digits with at least one digit, optionally followed by a suffix ("_2", " (1)").
_ID_IN_NAME = re.compile(r"^(?=[A-Za-z]*\d)([A-Za-z0-9]+)(?:[_\-\s.(].*)?$")


class ZipError(ValueError):
    pass


@dataclass
class BulkResult:
    verdicts: list[tuple[str, PhotoVerdict]] = field(default_factory=list)  # (student id, verdict)
    skipped: list[str] = field(default_factory=list)  # files that are not photos or name no one

    @property
    def enrolled(self) -> int:
        return sum(v.accepted for _, v in self.verdicts)


def student_id_for(member: str) -> str | None:
    path = PurePosixPath(member)
    for candidate in (path.stem, path.parts[-2] if len(path.parts) >= 2 else ""):
        found = _ID_IN_NAME.match(candidate)
        if found:
            return found.group(1)
    return None


def photos_from_zip(data: bytes, *, max_total_bytes: int) -> tuple[dict[str, list[tuple[str, bytes]]], list[str]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ZipError("this is not a .zip file") from None
    infos = [i for i in archive.infolist() if not i.is_dir() and "__MACOSX" not in i.filename]
    if sum(i.file_size for i in infos) > max_total_bytes:
        raise ZipError(f"the photos unpack to more than {max_total_bytes / 1e6:.0f} MB; split the file")
    groups: dict[str, list[tuple[str, bytes]]] = {}
    skipped = []
    for info in infos:
        name = info.filename
        student_id = student_id_for(name)
        if not _IMAGE.search(name) or student_id is None:
            skipped.append(name)
            continue
        groups.setdefault(student_id, []).append((name, archive.read(info)))
    return groups, skipped


def enroll_zip(faces: FaceService, data: bytes, actor: str, *, consent_method: str | None = None,
               progress: Callable[[int, int, str], None] | None = None) -> BulkResult:
    groups, skipped = photos_from_zip(data, max_total_bytes=faces.settings.max_image_bytes * 20)
    result = BulkResult(skipped=skipped)
    total = sum(len(p) for p in groups.values())
    done = 0
    for student_id, photos in sorted(groups.items()):
        try:
            if consent_method and faces.consent_of(student_id) is None:
                faces.record_consent(student_id, consent_method, actor)

            def step(n: int, _total: int, name: str, base: int = done) -> None:
                if progress:
                    progress(base + n, total, name)

            verdicts = faces.enroll(student_id, photos, actor, progress=step)
        except (ConsentRequiredError, EnrollmentError) as exc:
            verdicts = [PhotoVerdict(name, False, str(exc)) for name, _ in photos]
        done += len(photos)
        result.verdicts += [(student_id, v) for v in verdicts]
    return result
