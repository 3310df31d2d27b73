"""Headers: Thai and English wordings of each field, a header row found among the first rows."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from core.roster.encodings import _Cleaner
from core.roster.model import _PREFIX, _SURNAME, LABELS, _is_blank, _Record

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
