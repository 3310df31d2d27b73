"""Field validation: ids, names, phones, e-mails, ceremony order; what is refused and why."""

from __future__ import annotations

import re
import unicodedata

from core.roster.model import LABELS
from core.roster.readers import _CONTROL

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
