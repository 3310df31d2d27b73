"""What a roster becomes: its fields and their labels, a row, a row's error, the preview staff confirm."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
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


# A record read from a file: (row number, raw cell texts).
_Record = tuple[int, list[str | None]]


def _is_blank(cells: Iterable[str | None]) -> bool:
    return all(c is None or not c.strip() for c in cells)
