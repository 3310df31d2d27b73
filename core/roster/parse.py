"""Putting it together: a file in, validated rows and per-row errors out (parse_roster)."""

from __future__ import annotations

from collections.abc import Iterator

from core.roster.encodings import _THAI_LETTER, _Cleaner, _repair
from core.roster.fields import (
    _EMAIL,
    _TEXT_FIELDS,
    _clean_order,
    _clean_phone,
    _clean_student_id,
    _quote,
    _text_problem,
)
from core.roster.headers import _SHOWN_ALIASES, _find_header, _Header, _map_header
from core.roster.model import (
    _PREFIX,
    _SURNAME,
    LABELS,
    RosterFileError,
    RosterPreview,
    RosterRow,
    RowError,
    _Record,
)
from core.roster.readers import (
    _check_text_looks_like_csv,
    _csv_records,
    _decode_bytes,
    _detect_format,
    _not_a_spreadsheet,
    _open_xlsx,
    _sizes,
)


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
