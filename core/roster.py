"""Read an uploaded roster (CSV or .xlsx) into validated rows and per-row errors, before anything is saved.

Pure functions: no database, no Streamlit. Staff export rosters from Excel, Google Sheets and Thai
registrar systems, so the reader is forgiving about encodings, header wording and Excel's habits
(lost leading zeros, ids turned into 6401001.0), and strict about what it lets through.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

FIELDS: tuple[str, ...] = (
    "student_id", "name", "name_en", "guardian_name", "department", "phone", "email", "ceremony_order",
    "pronunciation",
)

# Columns that are not fields themselves but are folded into `name` (Thai registrar exports split names).
_PREFIX, _SURNAME = "_prefix", "_surname"

LABELS = {
    "student_id": "student id", "name": "name", "name_en": "English name", "guardian_name": "guardian name",
    "department": "department", "phone": "phone", "email": "email", "ceremony_order": "ceremony order",
    _PREFIX: "name prefix", _SURNAME: "surname", "pronunciation": "pronunciation note",
}


class RosterFileError(ValueError):
    """The whole file is unusable; the message says why in plain words."""


@dataclass(frozen=True)
class RosterRow:
    line: int  # row number as seen in Excel / a text editor: header = 1, first data row = 2
    student_id: str
    name: str
    name_en: str | None = None
    guardian_name: str | None = None
    department: str | None = None
    phone: str | None = None  # digits only, e.g. "0812345678"
    email: str | None = None  # lower-cased
    ceremony_order: int | None = None
    pronunciation: str | None = None  # how the reader says the name, e.g. "กิด-ติ-พัด"

    def as_payload(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


@dataclass(frozen=True)
class RowError:
    line: int
    column: str  # one of FIELDS, or "" for a whole-row problem
    message: str

    def __str__(self) -> str:
        where = f"row {self.line}, {self.column}" if self.column else f"row {self.line}"
        return f"{where}: {self.message}"


@dataclass
class RosterPreview:
    file_name: str
    rows: list[RosterRow] = field(default_factory=list)  # only the valid rows
    errors: list[RowError] = field(default_factory=list)
    encoding: str = ""  # "utf-8", "utf-8-sig", "utf-16", "cp874", "cp1252" or "xlsx"
    repaired_mojibake: bool = False
    notes: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    @property
    def error_rows(self) -> int:
        """How many rows of the file have at least one error (a row can have several)."""
        return len({e.line for e in self.errors})


# --------------------------------------------------------------------------------------------------
# Text clean-up and mojibake repair

_THAI_LETTER = re.compile("[\u0e01-\u0e5b]")  # assigned Thai code points only


def _thai_count(text: str) -> int:
    return len(_THAI_LETTER.findall(text))


def _byte_tables(*codecs: str) -> tuple[dict[str, int], dict[int, str]]:
    """char -> byte and byte -> char for a single-byte code page, filling its holes from the next codec.

    Windows fills undefined bytes (cp1252's 0x81 is the second byte of "ก") with C1 controls or the
    cp1252 glyph, so a strict Python codec would miss exactly the characters mojibake is made of.
    """
    to_byte: dict[str, int] = {}
    to_char: dict[int, str] = {}
    for b in range(256):
        for codec in (*codecs, "latin-1"):
            try:
                ch = bytes([b]).decode(codec)
            except UnicodeDecodeError:
                continue
            to_char[b] = ch
            to_byte.setdefault(ch, b)
            break
    return to_byte, to_char


@dataclass(frozen=True, eq=False)
class _Misread:
    codec: str
    label: str  # for the note shown to the user
    to_byte: dict[str, int] = field(repr=False)
    to_char: dict[int, str] = field(repr=False)
    nbsp_is_a0: bool = False  # byte 0xA0 reads as a no-break space, which later tools often turn into a space


_MAC_ROMAN = _Misread("mac_roman", "Mac Roman", *_byte_tables("mac_roman"), nbsp_is_a0=False)
_CP1252 = _Misread("cp1252", "Windows-1252", *_byte_tables("cp1252"), nbsp_is_a0=True)
# Thai Excel opening a UTF-8 CSV as Windows-874 gives "เธชเธกเธŠเธฒเธข": this one does contain Thai letters.
_CP874 = _Misread("cp874", "Thai Windows-874", *_byte_tables("cp874", "cp1252"), nbsp_is_a0=True)
_MAC_ROMAN.to_byte.setdefault("\u2126", 0xBD)  # OHM SIGN, which some Mac software emits for byte 0xBD

_SURROGATE = re.compile("[\udc80-\udcff]")
_LOST_NBSP = re.compile(rb"\xe0\xb8(?: |\Z)")  # "ภ" is E0 B8 A0; its A0 became a space or was trimmed


def _strict_undo(text: str, misread: _Misread) -> str | None:
    """Undo one mis-decoding of the whole text, or None when the text can't have come from it."""
    try:
        raw = bytes(misread.to_byte[ch] for ch in text)
        return raw.decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return None


def _lenient_undo(text: str, misread: _Misread) -> str:
    """Undo a mis-decoding piece by piece, leaving anything that doesn't decode as it was.

    Characters the code page can't produce (genuine Thai, U+FFFD) are carried through as their own
    UTF-8 bytes, so a line that mixes good text and mojibake only has the mojibake changed.
    """
    raw = bytearray()
    for ch in text:
        b = misread.to_byte.get(ch)
        if b is None:
            raw += ch.encode("utf-8", "surrogatepass")
        else:
            raw.append(b)
    data = bytes(raw)
    if misread.nbsp_is_a0:
        data = _LOST_NBSP.sub(b"\xe0\xb8\xa0", data)
    decoded = data.decode("utf-8", "surrogateescape")
    return _SURROGATE.sub(lambda m: misread.to_char[ord(m.group()) - 0xDC00], decoded)


_NOT_PLAUSIBLE = re.compile(
    "[^\x00-\x7f\u00a0-\u024f\u0e01-\u0e3a\u0e3f-\u0e5b\u2000-\u206f\u20ac]"  # odd scripts, unassigned
    "|(?:^|[^\u0e01-\u0e5b])[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e]"  # a Thai vowel/tone mark with no letter
)


def _plausible_thai(text: str) -> bool:
    """Guards the Windows-874 undo, whose input is itself Thai: a short Thai word can re-encode to valid
    UTF-8 by chance, but then yields one letter, an unassigned code point or a stray mark, never a name."""
    return _thai_count(text) >= 2 and not _NOT_PLAUSIBLE.search(text)


def _repair_piece(text: str) -> tuple[str, _Misread | None]:
    """Repair one cell or line of UTF-8 Thai that was read with the wrong code page and saved again."""
    if text.isascii() or not ("\u2021" in text or "\u00e0" in text or "เธ" in text or "เน" in text):
        return text, None  # every misreading of a UTF-8 Thai letter starts with one of these
    thai_before = _thai_count(text)
    if thai_before == 0:
        # Spec rule: only text with no Thai letters can be Mac Roman / cp1252 mojibake.
        for misread in (_MAC_ROMAN, _CP1252):
            fixed = _strict_undo(text, misread)
            if fixed is not None and _thai_count(fixed):
                return fixed, misread
    else:
        # Whole-text only: genuine Thai essentially never re-encodes to valid UTF-8, but pieces of it might.
        fixed = _strict_undo(text, _CP874)
        if fixed is not None and _plausible_thai(fixed):
            return fixed, _CP874
    for misread in (_MAC_ROMAN, _CP1252):
        # Damaged mojibake (a byte lost, mixed with good text): keep whatever part decodes to Thai.
        fixed = _lenient_undo(text, misread)
        if _thai_count(fixed) > thai_before:
            return fixed, misread
    return text, None


def _undo_latin(text: str, evidence: Iterable[_Misread]) -> str:
    """Undo a misreading on text that gave no Thai ("Jos√©" -> "José"), once Thai lines proved it happened.

    Only a whole-text strict round trip counts: genuine accented text essentially never survives one.
    """
    if text.isascii():
        return text
    for misread in evidence:
        fixed = _strict_undo(text, misread)
        if fixed is not None and fixed != text:
            return fixed
    return text


def _repair(text: str) -> tuple[str, set[_Misread]]:
    lines = text.splitlines(keepends=True)
    bodies = [line.rstrip("\r\n") for line in lines]
    fixed: list[str | None] = []
    used: set[_Misread] = set()
    for body in bodies:
        repaired, misread = _repair_piece(body)
        fixed.append(repaired if misread else None)
        if misread is not None:
            used.add(misread)
    evidence = [m for m in (_MAC_ROMAN, _CP1252, _CP874) if m in used]
    out = []
    for line, body, mended in zip(lines, bodies, fixed, strict=True):
        out.append((mended if mended is not None else _undo_latin(body, evidence)) + line[len(body):])
    return "".join(out), used


def repair_mojibake(text: str) -> tuple[str, bool]:
    """Repair UTF-8 Thai that was mis-decoded once (as Mac Roman, Windows-1252 or Windows-874) and saved.

    Works line by line, so a file where only some lines were damaged is still repaired. Text that is
    not mojibake, such as "José" or "Zoë", is returned unchanged.
    """
    fixed, used = _repair(text)
    return fixed, bool(used)


_SPLIT_SARA_AM = re.compile("\u0e4d([\u0e48-\u0e4b]?)\u0e32")


def _normalise_thai(text: str) -> str:
    # Two common typing slips that look identical on screen but break matching and sorting.
    text = text.replace("\u0e40\u0e40", "\u0e41")  # SARA E twice for SARA AE ("เเ" -> "แ")
    if "\u0e4d" in text:
        text = _SPLIT_SARA_AM.sub("\\1\u0e33", text)  # NIKHAHIT + SARA AA -> SARA AM
    return text


class _Cleaner:
    """Normalises cell text and remembers which mojibake repairs it made, for the preview's note."""

    def __init__(self, evidence: Iterable[_Misread] = ()) -> None:
        self.misreads: set[str] = set()
        # Misreadings already seen in this file, so non-Thai cells garbled the same way are undone too.
        self.evidence = [m for m in (_MAC_ROMAN, _CP1252, _CP874) if m in set(evidence)]

    def __call__(self, value: str | None) -> str | None:
        if value is None:
            return None
        text = unicodedata.normalize("NFC", value)
        text, misread = _repair_piece(text)  # before stripping: mojibake contains C1 controls and NBSP
        if misread is not None:
            self.misreads.add(misread.label)
        elif self.evidence:
            text = _undo_latin(text, self.evidence)
        text = unicodedata.normalize("NFC", text)
        # Drop invisible characters (zero-width space is common in Thai text) but keep whitespace.
        if not text.isprintable():  # rare, so the per-character filter only runs when needed
            text = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf"))
        if _THAI_LETTER.search(text):
            text = _normalise_thai(text)
        text = " ".join(text.split())
        return text or None


# --------------------------------------------------------------------------------------------------
# Recognising the file

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _not_a_spreadsheet(name: str, what: str = "") -> RosterFileError:
    hint = f" (it looks like {what})" if what else ""
    return RosterFileError(
        f"{name} is not a CSV or Excel file{hint}. Upload the roster as .xlsx or as CSV (comma-separated)."
    )


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _sizes(n: int, limit: int) -> tuple[str, str]:
    # "10.0 MB; the limit is 10.0 MB" would be confusing, so fall back to exact bytes when they round alike.
    if _size(n) == _size(limit):
        return f"{n:,} bytes", f"{limit:,} bytes"
    return _size(n), _size(limit)


def _detect_format(data: bytes, name: str) -> str:
    """"xlsx" or "text"; anything else raises. Goes by content because extensions are often wrong."""
    if data.startswith(_OLE2):
        raise RosterFileError(
            f"{name} is an old-style Excel file (.xls) or a password-protected workbook, which can't be "
            "read. Open it in Excel, remove any password, and save it as .xlsx (Excel Workbook) or as CSV UTF-8."
        )
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "xlsx"  # checked further when opened
    for magic, what in _SIGNATURES:
        if data.startswith(magic):
            raise _not_a_spreadsheet(name, what)
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _not_a_spreadsheet(name)  # NUL never occurs in CSV text except UTF-16, which carries a BOM
    return "text"


def _decode_bytes(data: bytes) -> tuple[str, str] | None:
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError:
            pass  # a BOM glued onto something else; let the other guesses try
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode Text" export
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None
    # UTF-8 first: legacy Thai bytes are essentially never valid UTF-8, so the order is safe.
    for codec in ("utf-8", "cp874", "cp1252"):
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            continue
    return None


def decode_text(data: bytes) -> tuple[str, str, bool]:
    """Decode CSV bytes: UTF-8 (with or without BOM), UTF-16 with BOM, Thai TIS-620/cp874, then cp1252.

    Returns (text, encoding label, whether mis-decoded Thai was repaired). Raises RosterFileError when
    the bytes are not text in any of those encodings.
    """
    decoded = _decode_bytes(data)
    if decoded is None:
        raise RosterFileError("The file is not text in any encoding Rollcall knows (UTF-8, TIS-620, cp874).")
    text, label = decoded
    text, repaired = repair_mojibake(text)
    return text, label, repaired


_CONTROL = re.compile("[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")  # C0 controls that never belong in CSV


def _check_text_looks_like_csv(text: str, name: str) -> None:
    control = len(_CONTROL.findall(text))
    if control > len(text) // 200:  # random bytes that happen to decode are full of control characters
        raise _not_a_spreadsheet(name)
    head = text.lstrip()[:2000].lower()
    if head.startswith("<") and any(tag in head for tag in ("<html", "<table", "<?xml", "<!doctype")):
        # Some school systems export an HTML or XML page and name it .xls.
        raise RosterFileError(
            f"{name} is a web page or XML file with a spreadsheet name, not a real spreadsheet. "
            "Open it in Excel and save it as .xlsx (Excel Workbook) or as CSV UTF-8."
        )


# --------------------------------------------------------------------------------------------------
# Reading records: (row number, raw cell texts)

_Record = tuple[int, list[str | None]]


def _is_blank(cells: Iterable[str | None]) -> bool:
    return all(c is None or not c.strip() for c in cells)


def _csv_records(text: str, name: str) -> list[_Record]:
    text = text.removesuffix("\x1a")  # DOS end-of-file marker
    first, _, rest = text.partition("\n")
    sep = re.fullmatch(r"\s*sep=(.)\s*", first, re.IGNORECASE)
    if sep:
        # Excel's "sep=;" hint line; Excel hides it, so the header stays row 1.
        delimiter, text = sep.group(1), rest
    else:
        delimiter = _sniff_delimiter(text)
    try:
        # strict first so an unclosed quote is reported instead of swallowing the rest of the file
        return _read_csv(text, delimiter, strict=True)
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise RosterFileError(
                f"{name} has a quote mark (\") that is never closed, so the rows after it can't be read."
            ) from exc
    try:
        return _read_csv(text, delimiter, strict=False)  # stray quotes inside values: read leniently
    except csv.Error as exc:
        raise RosterFileError(f"{name} could not be read as CSV: {exc}.") from exc


def _read_csv(text: str, delimiter: str, *, strict: bool) -> list[_Record]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=strict)
    # Blank lines come back as [] and still count, so numbers match the rows Excel shows.
    return [(number, list(cells)) for number, cells in enumerate(reader, start=1)]


def _sniff_delimiter(text: str) -> str:
    """Comma, semicolon (European Excel) or tab, chosen by which one yields a recognisable header."""
    sample = text[:65_536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best, best_score = ",", (False, 0, 0)
    for delimiter in (",", ";", "\t"):
        try:
            records = _read_csv(sample, delimiter, strict=False)[:40]
        except csv.Error:
            continue
        header, _ = _find_header(records, _Cleaner())
        width = max((len(cells) for _, cells in records), default=0)
        score = (header is not None, len(header.columns) if header else 0, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _cell_text(value: Any, number_format: str | None) -> str | None:
    """An Excel cell value as the text a person sees, so ids and phones never come out as 6401001.0."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        value = int(value)
    if isinstance(value, int):
        text = str(value)
        if number_format and re.fullmatch(r"0+", number_format) and value >= 0:
            text = text.zfill(len(number_format))  # a "0000000000" format shows the phone's leading zero
        return text
    if isinstance(value, float):
        return f"{value:.15g}"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _sheet_records(ws: Any) -> Iterator[_Record]:
    ws.reset_dimensions()  # files from other tools often carry a wrong <dimension>; read every row
    for number, row in enumerate(ws.iter_rows(min_row=1), start=1):
        cells = [_cell_text(c.value, getattr(c, "number_format", None)) for c in row]
        yield getattr(next((c for c in row if getattr(c, "row", None)), None), "row", number), cells


def _open_xlsx(data: bytes, name: str, max_bytes: int) -> tuple[Any, list[tuple[str, Iterator[_Record]]]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise RosterFileError(f"{name} looks like an Excel or ZIP file but is damaged.") from exc
    if "xl/workbook.bin" in names:
        raise RosterFileError(f"{name} is an Excel binary workbook (.xlsb). Save it as .xlsx or CSV UTF-8.")
    if "content.xml" in names:
        raise RosterFileError(
            f"{name} is an OpenDocument spreadsheet (.ods). Save it as .xlsx or CSV UTF-8."
        )
    if "xl/workbook.xml" not in names:
        raise _not_a_spreadsheet(name, "a Word document" if "word/document.xml" in names else "a ZIP archive")
    if unpacked > 20 * max_bytes:  # a zip bomb, or far more than any roster
        raise RosterFileError(f"{name} is too large once unpacked ({_size(unpacked)}).")
    try:
        import openpyxl

        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files; all mean the same to staff
        raise RosterFileError(f"{name} could not be opened as an Excel workbook: it may be damaged.") from exc
    sheets = [ws for ws in workbook.worksheets if hasattr(ws, "iter_rows")]
    active = workbook.active
    if active in sheets:  # the sheet Excel opens on is the one staff were looking at
        sheets.remove(active)
        sheets.insert(0, active)
    return workbook, [(ws.title, _sheet_records(ws)) for ws in sheets]


# --------------------------------------------------------------------------------------------------
# Headers

_ALIASES: dict[str, tuple[str, ...]] = {
    "student_id": (
        "student id", "student_id", "roll no", "roll number", "student no", "student number", "รหัสนักศึกษา",
        "เลขประจำตัว", "รหัสประจำตัว", "student code", "student id no", "รหัสนักเรียน", "รหัสนิสิต",
        "เลขประจำตัวนักเรียน", "เลขประจำตัวนักศึกษา", "รหัสประจำตัวนักศึกษา", "รหัสประจำตัวนักเรียน",
    ),
    "name": (
        "full name", "name th", "thai name", "ชื่อ-นามสกุล", "ชื่อ-สกุล", "ชื่อนามสกุล", "name (thai)",
        "full name (thai)", "student name", "ชื่อ-นามสกุล (ไทย)", "ชื่อ-นามสกุล (ภาษาไทย)", "ชื่อ-สกุล (ไทย)",
        "ชื่อภาษาไทย", "ชื่อไทย", "ชื่อนักศึกษา", "ชื่อนักเรียน", "ชื่อนิสิต", "ชื่อ-นามสกุลนักศึกษา",
    ),
    "name_en": (
        "name en", "english name", "name (english)", "ชื่อภาษาอังกฤษ", "ชื่ออังกฤษ", "full name (english)",
        "name in english", "ชื่อ-นามสกุล (ภาษาอังกฤษ)", "ชื่อ-นามสกุล (อังกฤษ)", "ชื่อ-สกุล (อังกฤษ)",
    ),
    "guardian_name": (
        "guardian", "guardian name", "parent", "ผู้ปกครอง", "ชื่อผู้ปกครอง", "parent name", "parent/guardian",
        "ชื่อ-นามสกุลผู้ปกครอง", "ชื่อ-สกุลผู้ปกครอง", "parents", "parent's name", "parents' names",
        "guardian's name", "บิดา/มารดา", "บิดามารดา", "ชื่อบิดามารดา", "ชื่อบิดา/มารดา", "ผู้ปกครอง (บิดา/มารดา)",
    ),
    "department": (
        "department", "dept", "faculty", "major", "program", "สาขา", "สาขาวิชา", "คณะ", "ภาควิชา",
        "programme", "แผนก", "แผนกวิชา", "หลักสูตร", "คณะ/สาขา",
    ),
    "phone": (
        "phone", "contact phone", "mobile", "tel", "telephone", "เบอร์โทร", "โทรศัพท์", "เบอร์ติดต่อ",
        "phone number", "phone no", "mobile no", "mobile number", "mobile phone", "tel no", "telephone number",
        "contact number", "เบอร์โทรศัพท์", "เบอร์มือถือ", "มือถือ", "หมายเลขโทรศัพท์", "โทร", "เบอร์",
    ),
    "email": ("email", "e-mail", "อีเมล", "email address", "e-mail address", "mail", "อีเมล์", "ที่อยู่อีเมล"),
    "ceremony_order": (
        "order", "ceremony order", "seq", "ลำดับ", "ลำดับที่", "sequence", "seq no", "order no", "ลำดับการรับ",
    ),
    "pronunciation": ("pronunciation", "pronunciation note", "how to say", "phonetic", "phonetics", "คำอ่าน",
                      "การออกเสียง", "คำอ่านชื่อ", "อ่านว่า", "การอ่าน"),
    _PREFIX: ("คำนำหน้า", "คำนำหน้าชื่อ", "คำนำหน้านาม", "prefix", "title"),
    _SURNAME: ("นามสกุล", "สกุล", "surname", "last name", "lastname", "family name"),
}
# Vague words: used only when no clearer header for the same field exists.
_GENERIC_ALIASES: dict[str, tuple[str, ...]] = {
    "student_id": ("id", "code", "รหัส"),
    "name": ("name", "ชื่อ", "first name", "firstname", "given name", "ชื่อจริง"),
    "department": ("class", "ห้อง", "ชั้น", "ระดับชั้น"),
    "phone": ("contact",),
    # A father's or mother's column is the guardian when no guardian / parent column is given (seed rosters name
    # it "Father Name" or `fatherName`); with both, the first is used and the other listed as not imported.
    "guardian_name": (
        "father", "father name", "father's name", "father full name", "mother", "mother name", "mother's name",
        "mother full name", "บิดา", "ชื่อบิดา", "ชื่อ-สกุลบิดา", "ชื่อ-นามสกุลบิดา", "มารดา", "ชื่อมารดา",
        "ชื่อ-สกุลมารดา", "ชื่อ-นามสกุลมารดา",
    ),
    "ceremony_order": ("no.", "ที่"),
}
_SHOWN_ALIASES: dict[str, tuple[str, ...]] = {  # for "expected one of ..." messages
    "student_id": ("student id", "student_id", "id", "roll no", "student number", "code", "รหัสนักศึกษา", "รหัส",
                   "เลขประจำตัว", "รหัสประจำตัว"),
    "name": ("name", "full name", "name th", "thai name", "ชื่อ", "ชื่อ-นามสกุล", "ชื่อ-สกุล"),
}


def _header_key(text: str) -> str:
    """Case-, space-, underscore- and punctuation-insensitive key; keeps Thai vowel and tone marks."""
    text = unicodedata.normalize("NFC", text).casefold().replace("#", "no")
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LMN")


def _build_alias_index() -> dict[str, tuple[str, int]]:
    index: dict[str, tuple[str, int]] = {}
    for rank, table in enumerate((_ALIASES, _GENERIC_ALIASES)):
        for name, aliases in table.items():
            for alias in aliases:
                key = _header_key(alias)
                if index.get(key, (name, rank)) != (name, rank):
                    raise AssertionError(f"header alias {alias!r} is claimed twice")
                index[key] = (name, rank)
    return index


_ALIAS_INDEX = _build_alias_index()
_GIVEN_NAME_KEYS = {_header_key(a) for a in _GENERIC_ALIASES["name"]}


@dataclass
class _Header:
    line: int
    texts: list[str | None]  # cleaned header cells
    columns: dict[str, int]  # field (or _PREFIX/_SURNAME) -> column index
    name_is_given: bool  # the name column holds only the given name, so a surname column is appended
    ignored: list[str]
    notes: list[str]


def _map_header(line: int, cells: list[str | None]) -> _Header:
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    ignored: list[str] = []
    for index, text in enumerate(cells):
        if not text:
            continue
        hit = _ALIAS_INDEX.get(_header_key(text))
        if hit is None:
            ignored.append(text)
        else:
            candidates.setdefault(hit[0], []).append((hit[1], index, text))
    columns: dict[str, int] = {}
    notes: list[str] = []
    name_is_given = False
    for name, found in candidates.items():
        found.sort()  # clearer alias first, then the leftmost column
        columns[name] = found[0][1]
        if name == "name":
            name_is_given = _header_key(found[0][2]) in _GIVEN_NAME_KEYS
        if len(found) > 1:
            others = [text for _, _, text in found[1:]]
            ignored.extend(others)
            listed = ", ".join(f"'{t}'" for t in others)
            notes.append(f"Several columns look like the {LABELS[name]}: used '{found[0][2]}' and ignored {listed}.")
    if _SURNAME in columns and not name_is_given:  # the name column already holds full names
        ignored.append(cells[columns.pop(_SURNAME)] or "")
    return _Header(line, cells, columns, name_is_given, ignored, notes)


def _find_header(
    records: Iterable[_Record], clean: _Cleaner, limit: int = 10
) -> tuple[_Header | None, _Record | None]:
    """(header, first non-blank row). The header is the first of the first `limit` non-blank rows that
    names both a student id and a name column: Thai school sheets often start with a title row
    ("รายชื่อนักศึกษา ปีการศึกษา 2567") above the real header.
    """
    first: _Record | None = None
    for seen, (line, cells) in enumerate((r for r in records if not _is_blank(r[1])), start=1):
        first = first or (line, cells)
        header = _map_header(line, [clean(c) for c in cells])
        if "student_id" in header.columns and "name" in header.columns:
            return header, first
        if seen >= limit:
            break
    return None, first


# --------------------------------------------------------------------------------------------------
# Field validation

_SCIENTIFIC = re.compile(r"[0-9]+(?:\.[0-9]+)?[eE]\+?[0-9]+")
# The ids QR cards and URLs can carry (core/qr.py): letters, digits, - and _.
_STUDENT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_TEXT_CHARS = 200  # a name, guardian or department longer than this is a pasting mistake (or an attack)
_FORMULA_START = "=+-@"  # a spreadsheet would run a cell that starts with one of these
_TEXT_FIELDS = ("name", "name_en", "guardian_name", "department", "pronunciation")
_WHOLE_FLOAT = re.compile(r"(\+?[0-9]+)\.0+")
_PHONE_JUNK = re.compile(r"[\s\-\u2010-\u2015.()]")
_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:[a-z]{2,}|xn--[a-z0-9-]+)"
)


def _ascii_digits(text: str) -> str:
    # Thai (๐-๙) and full-width digits turn up in hand-typed sheets.
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd" else ch for ch in text)


def _quote(value: str) -> str:
    return f"'{value if len(value) <= 60 else value[:57] + '...'}'"


def _clean_student_id(value: str) -> tuple[str | None, str | None]:
    value = _ascii_digits(value)
    if _SCIENTIFIC.fullmatch(value):
        return None, (f"{_quote(value)} is a number Excel shortened (scientific notation), so the real id is "
                      "lost; format the column as Text in Excel and export again")
    whole = _WHOLE_FLOAT.fullmatch(value)
    value = whole.group(1) if whole else value  # "6401001.0" from a pandas/Excel export
    if not _STUDENT_ID.fullmatch(value):
        return None, (f"{_quote(value)} is not a student id: use letters, digits, - and _ only "
                      "(at most 32 characters)")
    return value, None


def _text_problem(value: str) -> str | None:
    """Why a free-text cell (name, guardian, department) cannot be imported, or None."""
    if len(value) > MAX_TEXT_CHARS:
        return f"is {len(value):,} characters long; the limit is {MAX_TEXT_CHARS}"
    if len(value) > 1 and value[0] in _FORMULA_START:
        return f"{_quote(value)} starts with '{value[0]}' like a spreadsheet formula; remove that sign"
    if _CONTROL.search(value):
        return f"{_quote(value)} contains control characters"
    return None


def _clean_phone(value: str) -> tuple[str | None, bool, str | None]:
    """(digits, leading zero restored, error)."""
    error = f"{_quote(value)} is not a phone number"
    text = _ascii_digits(value)
    if _SCIENTIFIC.fullmatch(text):
        return None, False, error + " (Excel shortened it to scientific notation; format the column as Text)"
    whole = _WHOLE_FLOAT.fullmatch(text)
    if whole:
        text = whole.group(1)  # 812345678.0: strip before dots are removed as separators
    text = _PHONE_JUNK.sub("", text)
    international = text.startswith("+")
    if international:
        text = text[1:]
    elif text.startswith("00"):
        international, text = True, text[2:]
    if not text.isdigit():
        if "/" in text or "," in text:
            error += " (put one number per row)"
        return None, False, error
    if international or (text.startswith("66") and len(text) >= 10):
        if not text.startswith("66"):
            return None, False, error + " (only Thai numbers are accepted)"
        text = text[2:]
        if not text.startswith("0"):  # "+66 (0)81 ..." already keeps its zero
            text = "0" + text
    if len(text) in (9, 10) and text.startswith("0"):
        return text, False, None
    if len(text) == 9 and text[0] in "689":  # 0812345678 typed into a number cell becomes 812345678
        return "0" + text, True, None
    return None, False, error


def _clean_order(value: str) -> tuple[int | None, str | None]:
    text = _ascii_digits(value)
    whole = _WHOLE_FLOAT.fullmatch(text)
    if whole:
        text = whole.group(1)
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text), None
    return None, f"{_quote(value)} is not a positive whole number"


def clean_field(field: str, value: str | int | None) -> str | int | None:
    """Validate and normalise one field the way an import would (for hand edits); ValueError says why."""
    text = None if value is None else unicodedata.normalize("NFC", " ".join(str(value).split())) or None
    if text is None:
        if field in ("student_id", "name"):
            raise ValueError(f"the {LABELS.get(field, field)} cannot be empty")
        return None
    clean: str | int | None
    if field == "phone":
        clean, _, problem = _clean_phone(text)
    elif field == "ceremony_order":
        clean, problem = _clean_order(text)
    elif field == "email":
        clean = text.lower().removeprefix("mailto:")
        problem = None if _EMAIL.fullmatch(clean) else f"{_quote(text)} is not an e-mail address"
    elif field == "student_id":
        clean, problem = _clean_student_id(text)
    elif field in _TEXT_FIELDS:
        clean, problem = text, _text_problem(text)
    elif field == "rfid_tag":  # the card's UID as the reader prints it: hex, any separators
        clean = re.sub(r"[\s:-]", "", text).upper()
        problem = None if re.fullmatch(r"[0-9A-F]{4,32}", clean) else f"{_quote(text)} is not an RFID card UID (hex)"
    else:
        clean, problem = text, None
    if problem:
        raise ValueError(problem)
    return clean


# --------------------------------------------------------------------------------------------------
# Putting it together


def _join_name(values: dict[str, str | None], name_is_given: bool) -> str | None:
    name, surname, prefix = values.get("name"), values.get(_SURNAME), values.get(_PREFIX)
    if name and surname and name_is_given:
        name = f"{name} {surname}"
    if name and prefix and not name.startswith(prefix):
        # Thai convention writes the title straight onto the name: "นายสมชาย ใจดี"; English uses a space.
        glue = "" if _THAI_LETTER.search(prefix[-1]) and _THAI_LETTER.match(name) else " "
        name = f"{prefix}{glue}{name}"
    return name


class _RowChecker:
    def __init__(self) -> None:
        self.rows: list[RosterRow] = []
        self.errors: list[RowError] = []
        self.first_id: dict[str, int] = {}
        self.first_order: dict[int, int] = {}
        self.zeros_restored = 0

    def check(self, line: int, values: dict[str, str | None], name_is_given: bool) -> None:
        errors: list[RowError] = []

        def fail(column: str, message: str) -> None:
            errors.append(RowError(line, column, message))

        student_id = values.get("student_id")
        if student_id is None:
            fail("student_id", "student id is missing")
        else:
            student_id, problem = _clean_student_id(student_id)
            if problem or student_id is None:
                fail("student_id", problem or "student id is missing")
            elif (first := self.first_id.setdefault(student_id.casefold(), line)) != line:
                # casefold: "S001" and "s001" would be the same person to staff
                fail("student_id", f"student id {_quote(student_id)} is repeated; first used on row {first}")

        name = _join_name(values, name_is_given)
        if not name:
            fail("name", "name is empty")
        for column in _TEXT_FIELDS:
            text = name if column == "name" else values.get(column)
            if text and (problem := _text_problem(text)):
                fail(column, f"{LABELS[column]} {problem}" if problem.startswith("is ") else problem)

        phone, restored = values.get("phone"), False
        if phone is not None:
            phone, restored, problem = _clean_phone(phone)
            if problem:
                fail("phone", problem)

        email = values.get("email")
        if email is not None:
            raw_email, email = email, email.lower().removeprefix("mailto:")
            if not _EMAIL.fullmatch(email):
                fail("email", f"{_quote(raw_email)} is not an email address")

        order: int | None = None
        raw_order = values.get("ceremony_order")
        if raw_order is not None:
            order, problem = _clean_order(raw_order)
            if problem or order is None:
                fail("ceremony_order", problem or "ceremony order is missing")
            elif (first := self.first_order.setdefault(order, line)) != line:
                fail("ceremony_order", f"ceremony order {order} is repeated; first used on row {first}")

        if errors:
            self.errors.extend(errors)
            return
        self.zeros_restored += restored  # counted on rows that will be imported, as the note promises
        assert student_id and name
        self.rows.append(RosterRow(
            line=line, student_id=student_id, name=name, name_en=values.get("name_en"),
            guardian_name=values.get("guardian_name"), department=values.get("department"),
            phone=phone, email=email, ceremony_order=order, pronunciation=values.get("pronunciation"),
        ))


def parse_roster(
    data: bytes, file_name: str, *, max_bytes: int = 10_000_000, max_rows: int = 50_000
) -> RosterPreview:
    """Read a roster upload into valid rows, row errors and notes. Raises RosterFileError for unusable files."""
    name = f"'{file_name}'" if file_name else "The file"  # already quoted for messages
    if not data:
        raise RosterFileError(f"{name} is empty.")
    if len(data) > max_bytes:
        size, limit = _sizes(len(data), max_bytes)
        raise RosterFileError(f"{name} is {size}; the limit is {limit}.")
    preview = RosterPreview(file_name=file_name)
    clean = _Cleaner()
    workbook = None
    try:
        if _detect_format(data, name) == "xlsx":
            preview.encoding = "xlsx"
            workbook, sheets = _open_xlsx(data, name, max_bytes)
        else:
            decoded = _decode_bytes(data)
            if decoded is None:
                raise _not_a_spreadsheet(name)
            text, preview.encoding = decoded
            _check_text_looks_like_csv(text, name)
            # Repair whole lines first so header detection sees Thai; cells get a second, finer pass.
            text, used = _repair(text)
            clean = _Cleaner(evidence=used)
            clean.misreads.update(m.label for m in used)
            sheets = [("", iter(_csv_records(text, name)))]
        try:
            _read_table(preview, sheets, clean, name, max_rows)
        except RosterFileError:
            raise
        except Exception as exc:  # damaged sheet XML surfaces only while iterating rows
            if workbook is None:
                raise
            raise RosterFileError(f"{name} could not be read as an Excel workbook: it may be damaged.") from exc
    finally:
        if workbook is not None:
            workbook.close()

    if clean.misreads:
        preview.repaired_mojibake = True
        how = " and ".join(sorted(clean.misreads))
        preview.notes.insert(0, f"Thai text was mis-decoded (read as {how}) and has been repaired.")
    if preview.encoding == "cp874":
        preview.notes.insert(0, "The file is in the Thai TIS-620 / Windows-874 encoding; it was read as such.")
    elif preview.encoding == "cp1252":
        preview.notes.insert(0, "The file is not UTF-8; it was read as Windows-1252 (Western European).")
    return preview


def _header_text(header: _Header, index: int) -> str | None:
    return header.texts[index] if index < len(header.texts) else None


def column_letter(index: int) -> str:
    """A 0-based column as a spreadsheet names it: A … Z, AA, AB …"""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _read_table(
    preview: RosterPreview, sheets: list[tuple[str, Iterator[_Record]]], clean: _Cleaner, name: str, max_rows: int
) -> None:
    chosen: tuple[str, _Header, Iterator[_Record], _Record] | None = None
    fallback: _Record | None = None  # the first sheet's first non-blank row, for the error message
    for title, records in sheets:
        header, first = _find_header(records, clean)  # leaves `records` just after the header
        fallback = fallback or first
        if header is not None and first is not None:
            chosen = (title, header, records, first)
            break
    if chosen is None:
        if fallback is None:
            raise RosterFileError(f"{name} is empty: it has no rows with any text.")
        line, cells = fallback
        texts = [clean(c) for c in cells]
        missing = "student_id" if "student_id" not in _map_header(line, texts).columns else "name"
        expected = ", ".join(f"'{a}'" for a in _SHOWN_ALIASES[missing])
        found_text = ", ".join(f"'{t}'" for t in texts if t)
        raise RosterFileError(
            f"{name} has no column for the {LABELS[missing]}: expected one of {expected}. "
            f"The header row (row {line}) has {found_text}."
        )

    title, header, records, first = chosen
    preview.ignored_columns = list(header.ignored)
    preview.notes.extend(header.notes)
    if len(sheets) > 1:
        preview.notes.append(f"Read the sheet '{title}'; the workbook's other sheets were not read.")
    if first[0] < header.line:
        preview.notes.append(f"Used row {header.line} as the header row; the rows above it were skipped.")

    checker = _RowChecker()
    data_rows = 0
    repeated_headers: list[int] = []
    unnamed: set[int] = set()  # columns without a header that hold something: not imported either
    for line, cells in records:
        values = {
            column: clean(cells[index]) if index < len(cells) else None
            for column, index in header.columns.items()
        }
        if all(v is None for v in values.values()):
            continue  # blank (or only notes in unrecognised columns): nothing to import
        if all(values[column] == header.texts[index] for column, index in header.columns.items()):
            repeated_headers.append(line)  # exports glued together repeat the header mid-file
            continue
        unnamed.update(i for i in range(len(cells)) if i not in unnamed and not _header_text(header, i)
                       and clean(cells[i]) is not None)
        data_rows += 1
        if data_rows > max_rows:
            raise RosterFileError(f"{name} has more than {max_rows:,} rows; split it into smaller files.")
        checker.check(line, values, header.name_is_given)
    if data_rows == 0:
        raise RosterFileError(f"{name} has a header row but no student rows.")

    preview.rows = checker.rows
    preview.errors = checker.errors
    preview.ignored_columns += [f"column {column_letter(i)} (no header)" for i in sorted(unnamed)]
    if repeated_headers:
        count = len(repeated_headers)
        listed = ", ".join(str(line) for line in repeated_headers[:5]) + (", ..." if count > 5 else "")
        what = "a repeated header row (row" if count == 1 else f"{count} repeated header rows (rows"
        preview.notes.append(f"Skipped {what} {listed}).")
    if checker.zeros_restored:
        count = checker.zeros_restored
        numbers = "phone number" if count == 1 else "phone numbers"
        preview.notes.append(f"Restored the leading 0 of {count} {numbers} lost by Excel.")
