"""Recognising the file (CSV in any of its encodings, or .xlsx) and reading its records: (row number, cells)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

from core.roster.encodings import _Cleaner, repair_mojibake
from core.roster.headers import _find_header
from core.roster.model import RosterFileError, _Record

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
