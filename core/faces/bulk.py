"""Bulk enrollment from a .zip whose file or folder names carry the student id.

Accepted names: `6501001.jpg`, `6501001_2.jpg`, `6501001-side.png`, `6501001/any name.jpg`.

A .zip is untrusted input: a member may be encrypted, compressed with a method Python cannot read, damaged
(bad data or a checksum that does not match), a bomb that unpacks to gigabytes, or named with a path such as
`../x.jpg`. Each such file gets its own error and the rest of the archive is still processed; a person with a
file that could not be read is not enrolled at all (no half-enrolled person), so the operator fixes the file
and runs the .zip again. Nothing is ever written to disk from the archive: members are read into memory, one
person at a time, each bounded by the photo size limit whatever its header says.
"""

from __future__ import annotations

import io
import lzma
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.faces.service import EnrollmentError, FaceService, PhotoVerdict
from core.privacy.consent import ConsentRequiredError

_IMAGE = re.compile(r"\.(jpe?g|png)$", re.IGNORECASE)
# An id is letters and digits with at least one digit, optionally followed by a suffix ("_2", " (1)").
_ID_IN_NAME = re.compile(r"^(?=[A-Za-z]*\d)([A-Za-z0-9]+)(?:[_\-\s.(].*)?$")
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_ENCRYPTED = 0x1


class ZipError(ValueError):
    pass


class MemberError(ZipError):
    """One file of the archive cannot be read; the others can."""


@dataclass
class BulkResult:
    verdicts: list[tuple[str, PhotoVerdict]] = field(default_factory=list)  # (student id, verdict)
    skipped: list[str] = field(default_factory=list)  # files that are not photos or name no one
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, why it could not be read)

    @property
    def enrolled(self) -> int:
        return sum(v.accepted for _, v in self.verdicts)


def student_id_for(member: str) -> str | None:
    path = PurePosixPath(member.replace("\\", "/"))
    for candidate in (path.stem, path.parts[-2] if len(path.parts) >= 2 else ""):
        found = _ID_IN_NAME.match(candidate)
        if found:
            return found.group(1)
    return None


def unsafe_path(name: str) -> bool:
    """An absolute path, a drive, or a `..` step: a name that would leave the folder it is unpacked into."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or bool(re.match(r"^[A-Za-z]:", name)) or "\x00" in name


def open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise ZipError("this is not a .zip file, or it is damaged") from None


def check_member(info: zipfile.ZipInfo, *, max_bytes: int) -> None:
    """MemberError for what the archive's directory already tells: path, password, method, unpacked size."""
    if unsafe_path(info.filename):
        raise MemberError("its path leaves the archive's folder (`..` or an absolute path): refused")
    if info.flag_bits & _ENCRYPTED:
        raise MemberError("it is encrypted: make the .zip again without a password")
    if info.compress_type not in _METHODS:
        raise MemberError(f"it is compressed with a method that cannot be read (method {info.compress_type}): "
                          "make the .zip again with ordinary compression")
    if info.file_size > max_bytes:
        raise MemberError(f"it unpacks to {info.file_size / 1e6:,.1f} MB, more than the {max_bytes / 1e6:.0f} MB "
                          "a photo may have")


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, max_bytes: int) -> bytes:
    """The member's bytes, or MemberError saying why not. Never more than `max_bytes` are unpacked."""
    check_member(info, max_bytes=max_bytes)
    try:
        with archive.open(info) as member:
            data = member.read(max_bytes + 1)  # the reader also stops at the declared size and checks the CRC
    except zipfile.BadZipFile as exc:
        if "CRC" in str(exc):
            raise MemberError("it is damaged: its checksum (CRC) does not match its contents") from None
        raise MemberError(f"it is damaged ({exc})") from None
    except RuntimeError:  # zipfile's "encrypted, password required" when only the local header says so
        raise MemberError("it is encrypted: make the .zip again without a password") from None
    except NotImplementedError:
        raise MemberError("it is compressed with a method that cannot be read: make the .zip again with "
                          "ordinary compression") from None
    except (zlib.error, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
        raise MemberError(f"it is damaged and cannot be unpacked ({type(exc).__name__})") from None
    if len(data) > max_bytes:
        raise MemberError(f"it unpacks to more than the {max_bytes / 1e6:.0f} MB a photo may have")
    return data


def plan_zip(archive: zipfile.ZipFile, *, max_bytes: int, max_total_bytes: int
             ) -> tuple[dict[str, list[zipfile.ZipInfo]], list[str]]:
    """The photos of each student id (not yet read) and the files skipped (not photos, or naming no one)."""
    infos = [i for i in archive.infolist() if not i.is_dir() and "__MACOSX" not in i.filename]
    groups: dict[str, list[zipfile.ZipInfo]] = {}
    skipped = []
    for info in infos:
        student_id = student_id_for(info.filename)
        if not _IMAGE.search(info.filename) or student_id is None:
            skipped.append(info.filename)
            continue
        groups.setdefault(student_id, []).append(info)
    # Members refused on their own (a bomb declaring gigabytes) do not count toward the archive's total.
    total = sum(i.file_size for group in groups.values() for i in group if i.file_size <= max_bytes)
    if total > max_total_bytes:
        raise ZipError(f"the photos unpack to more than {max_total_bytes / 1e6:.0f} MB; split the file")
    return groups, skipped


def enroll_zip(faces: FaceService, data: bytes, actor: str, *, consent_method: str | None = None,
               progress: Callable[[int, int, str], None] | None = None) -> BulkResult:
    max_bytes = faces.settings.max_image_bytes
    archive = open_zip(data)
    plan, skipped = plan_zip(archive, max_bytes=max_bytes, max_total_bytes=max_bytes * 20)
    result = BulkResult(skipped=skipped)
    total = sum(len(p) for p in plan.values())
    done = 0
    for student_id, infos in sorted(plan.items()):
        photos, failed = [], []
        for info in infos:
            try:
                photos.append((info.filename, read_member(archive, info, max_bytes=max_bytes)))
            except MemberError as exc:
                failed.append((info.filename, str(exc)))
        if failed:
            # Nothing of this person is enrolled (not even consent recorded): fix the file, then run the .zip again.
            result.errors += failed
            bad = dict(failed)
            first = failed[0][0]
            result.verdicts += [(student_id, PhotoVerdict(info.filename, False, bad.get(info.filename) or (
                f"not enrolled: {first}, another photo of this person, could not be read"))) for info in infos]
            done += len(infos)
            if progress:
                progress(done, total, infos[-1].filename)
            continue
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
