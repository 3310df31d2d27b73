"""Roster upload parsing: the files staff really produce (Excel, Thai encodings, mojibake) and the mistakes in them."""

from __future__ import annotations

import csv
import io
import json
import random
import unicodedata
import zipfile

import openpyxl
import pytest

from core.roster import (
    FIELDS,
    RosterFileError,
    RosterPreview,
    RosterRow,
    RowError,
    decode_text,
    parse_roster,
    repair_mojibake,
)

HEADER = ["รหัสนักศึกษา", "ชื่อ-นามสกุล", "Name (English)", "ผู้ปกครอง", "สาขาวิชา", "เบอร์โทร", "อีเมล", "ลำดับ"]
PEOPLE = [
    ["6401001", "สมชาย ใจดี", "Somchai Jaidee", "นางสมศรี ใจดี", "วิศวกรรมคอมพิวเตอร์", "081-234-5678",
     "somchai@example.ac.th", "1"],
    ["6401002", "นางสาวกนกวรรณ ศรีสุข", "Kanokwan Srisuk", "นายประเสริฐ ศรีสุข", "บัญชี", "0898765432",
     "Kanokwan.S@Example.AC.TH", "2"],
    ["6401003", "José Zoë Müller", "José Zoë Müller", "", "International Business", "", "", "3"],
]
THAI_NAMES = ["สมชาย ใจดี", "นางสาวกนกวรรณ ศรีสุข", "José Zoë Müller"]


def to_csv(rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def roster_text(rows: list[list[str]] | None = None, header: list[str] | None = None, delimiter: str = ",") -> str:
    return to_csv([header or HEADER, *(PEOPLE if rows is None else rows)], delimiter)


def parse_csv(text: str, **kwargs) -> RosterPreview:
    return parse_roster(text.encode("utf-8"), "roster.csv", **kwargs)


def as_windows_1252(text: str) -> str:
    """What Windows/Excel shows for UTF-8 read as cp1252: undefined bytes (0x81 in "ก") become C1 controls."""
    return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in text.encode("utf-8"))


def as_windows_874(text: str) -> str:
    """UTF-8 read by Thai Excel as Windows-874; bytes cp874 leaves undefined show their cp1252 glyph."""
    out = []
    for b in text.encode("utf-8"):
        one = bytes([b])
        out.append(one.decode("cp874", "ignore") or one.decode("cp1252", "ignore") or chr(b))
    return "".join(out)


def xlsx_bytes(
    rows: list[list[object]], *, title_rows: list[list[object]] | None = None, formats: dict[str, str] | None = None
) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in [*(title_rows or []), *rows]:
        sheet.append(row)
    for cell, number_format in (formats or {}).items():
        sheet[cell].number_format = number_format
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def error_at(preview: RosterPreview) -> set[tuple[int, str]]:
    return {(e.line, e.column) for e in preview.errors}


# ---------------------------------------------------------------- the happy path and encodings


def test_utf8_csv_with_thai_and_english_names():
    preview = parse_csv(roster_text())
    assert preview.ok and preview.errors == []
    assert preview.encoding == "utf-8" and not preview.repaired_mojibake
    assert preview.ignored_columns == []
    first, second, third = preview.rows
    assert first == RosterRow(
        line=2, student_id="6401001", name="สมชาย ใจดี", name_en="Somchai Jaidee", guardian_name="นางสมศรี ใจดี",
        department="วิศวกรรมคอมพิวเตอร์", phone="0812345678", email="somchai@example.ac.th", ceremony_order=1,
    )
    assert second.email == "kanokwan.s@example.ac.th"
    assert (third.line, third.name, third.guardian_name, third.phone, third.email) == (
        4, "José Zoë Müller", None, None, None)


def test_payload_has_every_field_and_is_json():
    row = parse_csv(roster_text()).rows[0]
    payload = row.as_payload()
    assert tuple(payload) == FIELDS
    assert json.loads(json.dumps(payload, ensure_ascii=False)) == payload
    assert payload["ceremony_order"] == 1 and "line" not in payload


@pytest.mark.parametrize(
    ("encoded", "label"),
    [
        (lambda t: t.encode("utf-8"), "utf-8"),
        (lambda t: t.encode("utf-8-sig"), "utf-8-sig"),
        (lambda t: t.encode("utf-16"), "utf-16"),
        (lambda t: t.encode("cp874"), "cp874"),
        (lambda t: t.encode("tis-620"), "cp874"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-bom", "cp874", "tis-620"],
)
def test_each_encoding_gives_the_exact_thai_text(encoded, label):
    rows = [row[:] for row in PEOPLE[:2]]  # Thai only: TIS-620 has no "é"
    preview = parse_roster(encoded(roster_text(rows)), "roster.csv")
    assert preview.encoding == label
    assert [r.name for r in preview.rows] == ["สมชาย ใจดี", "นางสาวกนกวรรณ ศรีสุข"]
    assert preview.rows[0].department == "วิศวกรรมคอมพิวเตอร์"
    assert preview.ignored_columns == []  # the BOM must not stick to the first header
    assert not preview.repaired_mojibake
    assert any("TIS-620" in note for note in preview.notes) == (label == "cp874")


def test_decode_text_labels():
    assert decode_text("ชื่อ".encode()) == ("ชื่อ", "utf-8", False)
    assert decode_text("ชื่อ".encode("utf-8-sig")) == ("ชื่อ", "utf-8-sig", False)
    assert decode_text("ชื่อ".encode("tis-620")) == ("ชื่อ", "cp874", False)
    assert decode_text("‡∏£‡∏∞‡∏ö‡∏ö".encode()) == ("ระบบ", "utf-8", True)


# ---------------------------------------------------------------- mojibake


def test_repair_mojibake_spec_examples():
    assert repair_mojibake("‡∏£‡∏∞‡∏ö‡∏ö") == ("ระบบ", True)  # Mac Roman
    assert repair_mojibake("à¸£à¸°à¸šà¸š") == ("ระบบ", True)  # Windows-1252


@pytest.mark.parametrize(
    "text", ["José", "Zoë", "Crème brûlée", "naïve café à la carte", "Ñandú Ærø", "Müller-Lüdenscheidt", "สมชาย ใจดี",
             "เธอ เนื้อ เนกไท", "เธญ", "6401001,John Smith,0812345678", ""],
)
def test_ordinary_text_is_never_repaired(text):
    assert repair_mojibake(text) == (text, False)


def test_repair_works_line_by_line_on_mixed_text():
    text = "6401001,‡∏™‡∏°‡∏ä‡∏≤‡∏¢\n6401002,สมหญิง,José\r\n6401003," + as_windows_1252("กนกวรรณ") + "\n"
    assert repair_mojibake(text) == ("6401001,สมชาย\n6401002,สมหญิง,José\r\n6401003,กนกวรรณ\n", True)


def test_mac_roman_mojibake_file_is_repaired():
    garbled = roster_text().encode("utf-8").decode("mac_roman")
    assert "‡∏™‡∏°‡∏ä‡∏≤‡∏¢" in garbled  # really garbled: no Thai letters left
    preview = parse_roster(garbled.encode("utf-8"), "roster.csv")
    assert preview.repaired_mojibake
    assert "Thai text was mis-decoded (read as Mac Roman) and has been repaired." in preview.notes
    assert [r.name for r in preview.rows] == THAI_NAMES  # José's accents came back too
    assert preview.rows[1].guardian_name == "นายประเสริฐ ศรีสุข"
    assert preview.errors == [] and preview.ignored_columns == []


def test_mojibake_accents_are_undone_in_cells_next_to_retyped_thai():
    # The file was garbled, then someone typed a guardian's name in Thai on José's row.
    garbled = to_csv([HEADER, PEOPLE[0]]).encode("utf-8").decode("mac_roman")
    garbled += to_csv([["6401003", "José Zoë", "", "สมศรี ใจดี", "", "", "", ""]]).encode("utf-8").decode("mac_roman")
    garbled = garbled.replace("Zo√´,,‡∏™‡∏°‡∏®‡∏£‡∏µ ‡πÉ‡∏à‡∏î‡∏µ", "Zo√´,,สมศรี ใจดี")
    assert "สมศรี ใจดี" in garbled  # this line now mixes real Thai with mojibake
    preview = parse_roster(garbled.encode("utf-8"), "roster.csv")
    assert [(r.name, r.guardian_name) for r in preview.rows] == [
        ("สมชาย ใจดี", "นางสมศรี ใจดี"), ("José Zoë", "สมศรี ใจดี"),
    ]


def test_windows_1252_mojibake_file_is_repaired():
    garbled = as_windows_1252(roster_text())
    assert "à¸ªà¸¡à¸Šà¸²à¸¢" in garbled and "\x81" in garbled  # "ก" passes through an undefined cp1252 byte
    preview = parse_roster(garbled.encode("utf-8"), "roster.csv")
    assert preview.repaired_mojibake
    assert "Thai text was mis-decoded (read as Windows-1252) and has been repaired." in preview.notes
    assert [r.name for r in preview.rows] == THAI_NAMES
    assert preview.rows[0].department == "วิศวกรรมคอมพิวเตอร์"


def test_windows_1252_mojibake_saved_with_a_bom_and_lost_no_break_space():
    # "ภ" is E0 B8 A0; A0 reads as a no-break space that editors turn into a plain space.
    garbled = as_windows_1252("6401001,สมภพ ภักดี").replace("\xa0", " ")
    preview = parse_roster(("\ufeffstudent id,name\r\n" + garbled).encode("utf-8"), "roster.csv")
    assert [r.name for r in preview.rows] == ["สมภพ ภักดี"]
    assert preview.encoding == "utf-8-sig" and preview.repaired_mojibake


def test_thai_windows_874_mojibake_is_repaired():
    garbled = as_windows_874(roster_text(PEOPLE[:2]))
    assert "เธชเธกเธŠเธฒเธข" in garbled
    preview = parse_roster(garbled.encode("utf-8"), "roster.csv")
    assert [r.name for r in preview.rows] == THAI_NAMES[:2]
    assert preview.repaired_mojibake and any("Windows-874" in note for note in preview.notes)


def test_accented_english_file_is_not_repaired():
    text = roster_text([["S1", "José Zoë", "", "", "", "", "", ""], ["S2", "François Ñúñez", "", "", "", "", "", ""]])
    preview = parse_csv(text)
    assert [r.name for r in preview.rows] == ["José Zoë", "François Ñúñez"]
    assert not preview.repaired_mojibake and preview.notes == []


def test_windows_1252_file_with_accents_still_reads():
    text = "student id,name\r\nS1,Zoë Ÿvonne\r\n"
    preview = parse_roster(text.encode("cp1252"), "roster.csv")
    assert [r.name for r in preview.rows] == ["Zoë Ÿvonne"] and preview.encoding == "cp1252"


# ---------------------------------------------------------------- Excel


def test_xlsx_numbers_become_text_and_lost_zeros_are_restored(tmp_path):
    path = tmp_path / "roster.xlsx"
    path.write_bytes(xlsx_bytes([
        ["รหัส", "ชื่อ", "นามสกุล", "คณะ", "มือถือ", "ลำดับที่", "หมายเหตุ"],
        [6401001, "สมชาย", "ใจดี", "วิศวกรรมศาสตร์", 812345678, 1, None],
        [6401002.0, "Kanokwan", "Srisuk", None, 898765432.0, 2.0, "ย้ายสาขา"],
        [6401003, "สมหญิง", "รักเรียน", "บัญชี", "02-123-4567", None, None],
        [None, None, None, None, None, None, None],
        [6401004, "มานี", "มีนา", "บัญชี", 612345678, 4, None],
    ]))
    preview = parse_roster(path.read_bytes(), "roster.xlsx")
    assert preview.encoding == "xlsx" and preview.ok
    assert [(r.line, r.student_id, r.name, r.phone, r.ceremony_order) for r in preview.rows] == [
        (2, "6401001", "สมชาย ใจดี", "0812345678", 1),
        (3, "6401002", "Kanokwan Srisuk", "0898765432", 2),
        (4, "6401003", "สมหญิง รักเรียน", "021234567", None),
        (6, "6401004", "มานี มีนา", "0612345678", 4),
    ]
    assert preview.rows[1].department is None  # empty cell -> None, not "None"
    assert "Restored the leading 0 of 3 phone numbers lost by Excel." in preview.notes
    assert preview.ignored_columns == ["หมายเหตุ"]


def test_xlsx_zero_padded_number_format_keeps_the_zero():
    data = xlsx_bytes([["student id", "name", "phone"], [1001, "Ann Lee", 812345678]], formats={"C2": "0000000000"})
    preview = parse_roster(data, "roster.xlsx")
    assert preview.rows[0].phone == "0812345678"
    assert not any("leading 0" in note for note in preview.notes)


def test_xlsx_is_recognised_by_content_not_extension():
    data = xlsx_bytes([["Student ID", "Full Name"], ["S-01", "Ann Lee"]])
    preview = parse_roster(data, "roster.csv")
    assert preview.encoding == "xlsx" and [r.student_id for r in preview.rows] == ["S-01"]


def test_xlsx_title_rows_above_the_header_are_skipped():
    data = xlsx_bytes(
        [["ที่", "รหัสประจำตัว", "ชื่อ-สกุล"], [1, 6401001, "สมชาย ใจดี"], [2, 6401002, "สมหญิง รักเรียน"]],
        title_rows=[["รายชื่อนักศึกษา ปีการศึกษา 2567"], []],
    )
    preview = parse_roster(data, "roster.xlsx")
    assert [(r.line, r.student_id, r.ceremony_order) for r in preview.rows] == [(4, "6401001", 1), (5, "6401002", 2)]
    assert any("row 3" in note for note in preview.notes)


def test_xlsx_row_errors_use_excel_row_numbers():
    data = xlsx_bytes([["student id", "name", "phone"], [1, "A", 12], [2, None, None], [1, "C", None]])
    preview = parse_roster(data, "roster.xlsx")
    assert error_at(preview) == {(2, "phone"), (3, "name"), (4, "student_id")}
    assert preview.rows == []


def test_xlsx_mojibake_cell_is_repaired():
    data = xlsx_bytes([["student id", "name"], ["S1", "‡∏™‡∏°‡∏ä‡∏≤‡∏¢"], ["S2", "José"]])
    preview = parse_roster(data, "roster.xlsx")
    assert [r.name for r in preview.rows] == ["สมชาย", "José"] and preview.repaired_mojibake


# ---------------------------------------------------------------- CSV dialects and headers


@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_delimiters(delimiter):
    rows = [r[:] for r in PEOPLE]
    rows[2][3] = "Smith, John; Jr."  # a comma and a semicolon inside a value must not confuse sniffing
    preview = parse_csv(roster_text(rows, delimiter=delimiter))
    assert [r.name for r in preview.rows] == THAI_NAMES
    assert preview.rows[2].guardian_name == "Smith, John; Jr."
    assert preview.ok


def test_excel_sep_hint_line():
    preview = parse_csv("sep=;\r\nstudent id;name\r\n6401001;Ann Lee\r\n")
    assert [(r.line, r.name) for r in preview.rows] == [(2, "Ann Lee")]


def test_english_header_variants_and_ignored_columns():
    header = ["Roll No.", "FULL_NAME", "English Name", "Parent", "Dept", "Mobile", "E-Mail", "Seq", "Remark", ""]
    preview = parse_csv(to_csv([header, ["R1", "Ann Lee", "Ann Lee", "Bob Lee", "Math", "0812345678",
                                         "ann@school.org", "7", "late", "x"]]))
    assert preview.rows[0].as_payload() == {
        "student_id": "R1", "name": "Ann Lee", "name_en": "Ann Lee", "guardian_name": "Bob Lee",
        "department": "Math", "phone": "0812345678", "email": "ann@school.org", "ceremony_order": 7,
        "pronunciation": None,
    }
    assert preview.ignored_columns == ["Remark", "column J (no header)"]  # the last column has no header


def test_thai_header_variants():
    header = ["เลขประจำตัว", "ชื่อ - สกุล", "ชื่อภาษาอังกฤษ", "ชื่อผู้ปกครอง", "คณะ", "โทรศัพท์", "อีเมล", "ลำดับที่"]
    preview = parse_csv(to_csv([header, ["6401001", "สมชาย ใจดี", "Somchai", "สมศรี", "ครุศาสตร์", "0812345678",
                                         "a@b.co", "1"]]))
    assert preview.ok and preview.ignored_columns == []
    assert preview.rows[0].name_en == "Somchai" and preview.rows[0].department == "ครุศาสตร์"


def test_two_columns_for_one_field_keeps_the_first_and_says_so():
    preview = parse_csv(to_csv([["Student ID", "Name", "Faculty", "Major"], ["1", "Ann", "Science", "Physics"]]))
    assert preview.rows[0].department == "Science"
    assert preview.ignored_columns == ["Major"]
    assert any("'Faculty'" in note and "'Major'" in note for note in preview.notes)


def test_generic_id_column_loses_to_a_specific_one():
    preview = parse_csv(to_csv([["ID", "Student ID", "Name"], ["17", "6401001", "Ann"]]))
    assert preview.rows[0].student_id == "6401001" and preview.ignored_columns == ["ID"]


def test_thai_prefix_first_and_last_name_columns_are_joined():
    rows = [["คำนำหน้า", "ชื่อ", "นามสกุล", "รหัสนักศึกษา"], ["นาย", "สมชาย", "ใจดี", "1"], ["Mr.", "John", "Smith", "2"]]
    preview = parse_csv(to_csv(rows))
    assert [r.name for r in preview.rows] == ["นายสมชาย ใจดี", "Mr. John Smith"]


def test_surname_column_is_not_appended_to_full_names():
    preview = parse_csv(to_csv([["รหัส", "ชื่อ-นามสกุล", "นามสกุล"], ["1", "สมชาย ใจดี", "ใจดี"]]))
    assert preview.rows[0].name == "สมชาย ใจดี" and preview.ignored_columns == ["นามสกุล"]


def test_header_repeated_mid_file_is_skipped():
    rows = [["Student ID", "Name"], ["1", "Ann"], ["Student ID", "Name"], ["2", "Bob"]]
    preview = parse_csv(to_csv(rows))
    assert [r.line for r in preview.rows] == [2, 4] and preview.errors == []
    assert "Skipped a repeated header row (row 3)." in preview.notes


# ---------------------------------------------------------------- row validation


def test_bad_rows_are_reported_with_rows_and_columns_and_good_rows_survive():
    text = to_csv([
        ["student id", "name", "phone", "email", "order"],
        ["6401001", "สมชาย ใจดี", "0812345678", "somchai@example.com", "1"],   # 2 ok
        ["", "ไม่มี รหัส", "", "", "2"],                                        # 3 missing id
        ["6401001", "ซ้ำ รหัส", "", "", "3"],                                   # 4 duplicate id
        ["6401004", "Bad Phone", "12ab", "", "4"],                              # 5 bad phone
        ["6401005", "", "", "", "5"],                                           # 6 empty name
        ["6401006", "Bad Email", "", "not-an-email", "6"],                      # 7 bad email
        ["6401007", "Bad Order", "", "", "first"],                              # 8 bad order
        ["6401008", "Dup Order", "", "", "1"],                                  # 9 duplicate order
        [],                                                                     # 10 blank: skipped
        [" ", "", "", "", ""],                                                  # 11 blank: skipped
        ["6401012", "José Zoë", "+66 89 876 5432", "JOSE@Example.com", "12.0"],  # 12 ok
    ])
    preview = parse_csv(text)
    assert error_at(preview) == {
        (3, "student_id"), (4, "student_id"), (5, "phone"), (6, "name"),
        (7, "email"), (8, "ceremony_order"), (9, "ceremony_order"),
    }
    assert [(r.line, r.student_id, r.phone, r.email, r.ceremony_order) for r in preview.rows] == [
        (2, "6401001", "0812345678", "somchai@example.com", 1),
        (12, "6401012", "0898765432", "jose@example.com", 12),
    ]
    assert not preview.ok
    messages = {(e.line, e.column): str(e) for e in preview.errors}
    assert messages[(5, "phone")] == "row 5, phone: '12ab' is not a phone number"
    assert "row 2" in messages[(4, "student_id")]
    assert "row 2" in messages[(9, "ceremony_order")]


def test_a_row_with_several_problems_gets_each_error_once():
    preview = parse_csv(to_csv([["student id", "name", "phone", "email"], ["", "", "abc", "x@"]]))
    assert sorted(e.column for e in preview.errors) == ["email", "name", "phone", "student_id"]
    assert preview.rows == []


def test_row_error_str():
    assert str(RowError(5, "phone", "'12ab' is not a phone number")) == "row 5, phone: '12ab' is not a phone number"
    assert str(RowError(7, "", "row is odd")) == "row 7: row is odd"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0812345678", "0812345678"),
        ("081-234-5678", "0812345678"),
        ("081 234 5678", "0812345678"),
        ("081.234.5678", "0812345678"),
        ("(02) 123-4567", "021234567"),
        ("+66 81 234 5678", "0812345678"),
        ("+66 (0) 81 234 5678", "0812345678"),
        ("66812345678", "0812345678"),
        ("+6621234567", "021234567"),
        ("๐๘๑-๒๓๔-๕๖๗๘", "0812345678"),  # Thai digits
        ("812345678", "0812345678"),  # Excel dropped the zero
        ("912345678", "0912345678"),
        ("812345678.0", "0812345678"),
    ],
)
def test_phone_normalisation(raw, expected):
    preview = parse_csv(to_csv([["student id", "name", "phone"], ["1", "Ann", raw]]))
    assert preview.errors == [] and preview.rows[0].phone == expected


@pytest.mark.parametrize(
    "raw", ["12ab", "12345", "0812-345", "712345678", "08123456789", "+1 415 555 0100", "081-234-5678 / 089-765-4321",
            "8.12346E+08"],
)
def test_bad_phones_are_errors_quoting_the_value(raw):
    preview = parse_csv(to_csv([["student id", "name", "phone"], ["1", "Ann", raw]]))
    assert [(e.line, e.column) for e in preview.errors] == [(2, "phone")]
    assert f"'{raw}'" in preview.errors[0].message


def test_two_phone_numbers_in_one_cell_get_a_hint():
    preview = parse_csv(to_csv([["student id", "name", "phone"], ["1", "Ann", "081-234-5678, 02-123-4567"]]))
    assert "one number per row" in preview.errors[0].message


def test_restored_zero_note_counts_fixes():
    rows = [["student id", "name", "phone"], ["1", "A", "812345678"], ["2", "B", "0812345679"]]
    assert "Restored the leading 0 of 1 phone number lost by Excel." in parse_csv(to_csv(rows)).notes
    assert not any("leading 0" in n for n in parse_csv(to_csv(rows[:1] + rows[2:])).notes)


@pytest.mark.parametrize(("raw", "expected"), [("12", 12), ("12.0", 12), ("๑๒", 12), (" 3 ", 3)])
def test_ceremony_order_accepts_whole_numbers(raw, expected):
    assert parse_csv(to_csv([["student id", "name", "order"], ["1", "Ann", raw]])).rows[0].ceremony_order == expected


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "abc", "1st"])
def test_ceremony_order_rejects_others(raw):
    preview = parse_csv(to_csv([["student id", "name", "order"], ["1", "Ann", raw]]))
    assert [(e.line, e.column) for e in preview.errors] == [(2, "ceremony_order")]


@pytest.mark.parametrize("raw", ["ann@example", "@example.com", "ann@@example.com", "ann example@x.com", "ann@.com"])
def test_bad_emails(raw):
    preview = parse_csv(to_csv([["student id", "name", "email"], ["1", "Ann", raw]]))
    assert [(e.line, e.column) for e in preview.errors] == [(2, "email")]


def test_duplicate_ids_ignore_case_and_excel_decimal():
    preview = parse_csv(to_csv([["student id", "name"], ["s001", "A"], ["S001", "B"], ["6401001.0", "C"],
                                ["6401001", "D"]]))
    assert [r.student_id for r in preview.rows] == ["s001", "6401001"]
    assert [(e.line, "row 2" in e.message or "row 4" in e.message) for e in preview.errors] == [(3, True), (5, True)]


def test_scientific_notation_id_is_an_error():
    preview = parse_csv(to_csv([["student id", "name"], ["6.40E+06", "Ann"]]))
    assert [(e.line, e.column) for e in preview.errors] == [(2, "student_id")]
    assert "Text" in preview.errors[0].message


def test_text_is_normalised():
    decomposed = unicodedata.normalize("NFD", "José")
    text = to_csv([["student id", "name", "department"],
                   ["\u200b6401001 ", f"  {decomposed}   Zoë\u00a0 Lee ", "  "],
                   ["6401002", "กนกวรรณ เเสงทอง", "คํา"]])  # typed: two SARA E, NIKHAHIT + SARA AA
    first, second = parse_csv(text).rows
    assert (first.student_id, first.name, first.department) == ("6401001", "José Zoë Lee", None)
    assert (second.name, second.department) == ("กนกวรรณ แสงทอง", "คำ")


def test_blank_lines_are_skipped_but_still_counted():
    preview = parse_csv("student id,name\r\n\r\n1,Ann\r\n,\r\n\r\n2,Bob\r\n")
    assert [(r.line, r.name) for r in preview.rows] == [(3, "Ann"), (6, "Bob")]


def test_ok_needs_rows_and_no_errors():
    assert not RosterPreview(file_name="x.csv").ok
    assert RosterPreview(file_name="x.csv", rows=[RosterRow(line=2, student_id="1", name="A")]).ok


# ---------------------------------------------------------------- unusable files


def png_bytes() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png_bytes(), "is not a CSV or Excel file"),
        (random.Random(7).randbytes(4096), "is not a CSV or Excel file"),
        (b"student id,name\n1,\x00\x00\x00\x00ann\n", "is not a CSV or Excel file"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "is not a CSV or Excel file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), ".xlsx"),
        (b"", "empty"),
        (b"\r\n\r\n  \r\n", "empty"),
        ("รหัสนักศึกษา,ชื่อ\r\n".encode(), "no student rows"),
        ("รหัสนักศึกษา,ชื่อ\r\n,\r\n\r\n".encode(), "no student rows"),
        (b"name,phone\r\nAnn,0812345678\r\n", "no column for the student id: expected one of"),
        (b"student id,phone\r\n1,0812345678\r\n", "no column for the name: expected one of"),
        (b"<html><body><table><tr><td>id</td></tr></table></body></html>", "web page"),
        (b'student id,name\r\n1,"Ann\r\n2,Bob\r\n', "never closed"),
    ],
    ids=["png", "random", "nul", "pdf", "old-xls", "empty", "blank", "header-only", "header-blank-rows", "no-id",
         "no-name", "html", "open-quote"],
)
def test_unusable_files_raise_a_plain_reason(data, expected):
    with pytest.raises(RosterFileError, match="(?i)" + expected.replace(".", r"\.")):
        parse_roster(data, "upload.csv")


def test_old_xls_message_says_what_to_do():
    with pytest.raises(RosterFileError) as caught:
        parse_roster(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024), "roster.xls")
    assert "'roster.xls'" in str(caught.value) and ".xlsx" in str(caught.value) and "CSV" in str(caught.value)


def test_missing_id_column_lists_what_was_found():
    with pytest.raises(RosterFileError) as caught:
        parse_csv("ชื่อ,เบอร์โทร\r\nสมชาย,0812345678\r\n")
    assert "รหัสนักศึกษา" in str(caught.value) and "'เบอร์โทร'" in str(caught.value)


@pytest.mark.parametrize(
    ("names", "expected"),
    [({"word/document.xml": "<w/>"}, "Word document"), ({"readme.txt": "hi"}, "ZIP archive"),
     ({"mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": "<x/>"}, "OpenDocument")],
)
def test_zip_files_that_are_not_workbooks(names, expected):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in names.items():
            archive.writestr(name, content)
    with pytest.raises(RosterFileError, match=expected):
        parse_roster(buffer.getvalue(), "roster.xlsx")


def test_xlsx_that_unpacks_to_far_more_than_the_limit():
    buffer = io.BytesIO(xlsx_bytes([["student id", "name"], [1, "Ann"]]))
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/padding.bin", bytes(3_000_000))  # compresses to a few KB
    data = buffer.getvalue()
    assert parse_roster(data, "roster.xlsx").ok
    with pytest.raises(RosterFileError, match="too large once unpacked"):
        parse_roster(data, "roster.xlsx", max_bytes=len(data))


def test_damaged_xlsx():
    data = xlsx_bytes([["student id", "name"], [1, "Ann"]])
    with pytest.raises(RosterFileError, match="damaged"):
        parse_roster(data[: len(data) // 2], "roster.xlsx")


def test_byte_limit():
    data = roster_text().encode("utf-8")
    assert parse_roster(data, "roster.csv", max_bytes=len(data)).ok
    with pytest.raises(RosterFileError, match=f"{len(data):,} bytes; the limit is {len(data) - 1:,} bytes"):
        parse_roster(data, "roster.csv", max_bytes=len(data) - 1)
    with pytest.raises(RosterFileError, match="is 12.0 MB; the limit is 10.0 MB"):
        parse_roster(b"a" * 12_000_000, "big.csv")


def test_row_limit_counts_data_rows_only():
    rows = [["student id", "name"], *([str(i), f"Student {i}"] for i in range(1, 6)), [], []]
    assert len(parse_csv(to_csv(rows), max_rows=5).rows) == 5
    with pytest.raises(RosterFileError, match="more than 4 rows"):
        parse_csv(to_csv(rows), max_rows=4)
    with pytest.raises(RosterFileError, match="more than 4 rows"):
        parse_roster(xlsx_bytes(rows), "roster.xlsx", max_rows=4)


@pytest.mark.parametrize("header", ["Father Name", "fatherName", "FATHER_NAME", "father's name", "Mother Name",
                                    "motherName", "บิดา", "ชื่อบิดา", "มารดา", "ชื่อ-นามสกุลมารดา", "Parents",
                                    "บิดา/มารดา"])
def test_a_fathers_or_mothers_column_is_the_guardian(header):
    """Issue #13: seed rosters name the parent "Father Name" or `fatherName`."""
    preview = parse_csv(to_csv([["Student ID", "Name", header], ["6401001", "สมชาย ใจดี", "นายสมศักดิ์ ใจดี"]]))
    assert preview.ok and preview.rows[0].guardian_name == "นายสมศักดิ์ ใจดี"
    assert preview.ignored_columns == []


def test_a_guardian_column_wins_over_father_and_mother_and_the_rest_is_listed():
    header = ["Student ID", "Name", "Father Name", "Mother Name", "ผู้ปกครอง", "Nickname", None, "Blood type"]
    preview = parse_csv(to_csv([header, ["6401001", "Ann Lee", "Bob Lee", "Eve Lee", "Aunt May", "Annie", "x", ""],
                                ["6401002", "Ben Lee", "Bob Lee", "Eve Lee", "Aunt May", "", "", "O"]]))
    assert [r.guardian_name for r in preview.rows] == ["Aunt May", "Aunt May"]
    # Every column that was not imported is named, a blank-headed one with data by its letter.
    assert preview.ignored_columns == ["Nickname", "Blood type", "Father Name", "Mother Name", "column G (no header)"]
    assert any("'ผู้ปกครอง'" in n and "'Father Name'" in n and "'Mother Name'" in n for n in preview.notes)


def test_father_and_mother_without_a_guardian_column_uses_the_first():
    preview = parse_csv(to_csv([["Student ID", "Name", "Mother Name", "Father Name"], ["1", "Ann", "Eve", "Bob"]]))
    assert preview.rows[0].guardian_name == "Eve" and preview.ignored_columns == ["Father Name"]


@pytest.mark.parametrize(("index", "letter"), [(0, "A"), (25, "Z"), (26, "AA"), (27, "AB"), (701, "ZZ"),
                                                (702, "AAA")])
def test_column_letters(index, letter):
    from core.roster import column_letter

    assert column_letter(index) == letter
