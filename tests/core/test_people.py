from datetime import date

import pytest

from core import people
from core.demo import load_demo
from core.roster import parse_roster


@pytest.fixture
def demo(app):
    load_demo(app, today=date(2026, 11, 22))
    return app


def test_reimport_updates_by_student_id_and_never_duplicates(demo):
    csv = "student id,name,email\n6501001,สมชาย ใจดี,new@example.com\n6609001,Kim Lee,kim@example.com\n"
    preview = parse_roster(csv.encode(), "r.csv")
    assert people.preview_summary(demo, preview) == {"new": 1, "updated": 1, "errors": 0}
    before = people.get(demo, "6501001")
    people.commit_import(demo, preview, "op")
    people.commit_import(demo, preview, "op")
    assert people.count(demo) == 61
    after = people.get(demo, "6501001")
    assert (after["name"], after["email"]) == ("สมชาย ใจดี", "new@example.com")
    # Columns the file does not have are left as they were.
    assert after["phone"] == before["phone"] and after["guardian_name"] == before["guardian_name"]


def test_a_file_with_errors_imports_nothing(demo):
    preview = parse_roster(b"student id,name\n6609001,Good\n6609002,\n", "r.csv")
    assert len(preview.rows) == 1 and preview.errors
    with pytest.raises(people.PersonError, match="1 row"):
        people.commit_import(demo, preview, "op")
    assert people.count(demo) == 60


def test_edit_uses_the_import_rules(demo):
    people.update(demo, "op", "6501001", {"phone": "+66 81 234 5678", "email": "A@B.CO"}, reason="called")
    person = people.get(demo, "6501001")
    assert (person["phone"], person["email"]) == ("0812345678", "a@b.co")
    with pytest.raises(people.PersonError, match="Phone"):
        people.update(demo, "op", "6501001", {"phone": "12ab"})
    with pytest.raises(people.PersonError, match="Name"):
        people.update(demo, "op", "6501001", {"name": "  "})
    with pytest.raises(people.PersonError, match="No person"):
        people.update(demo, "op", "nope", {"name": "x"})


def test_search_thai_english_and_thai_order(demo):
    assert set(people.search(demo, "emma")["name_en"]) == {"Emma Johnson"}
    names = list(people.search(demo, "")["name"])
    thai = [n for n in names if "\u0e00" <= n[0] <= "\u0e7f"]
    # Thai dictionary order: a leading vowel (เ แ โ ใ ไ) sorts by the consonant after it.
    keys = [(n[1] if n[0] in "เแโใไ" else n[0]) for n in thai]
    assert keys == sorted(keys, key=lambda c: ord(c))


def test_delete_removes_the_person_and_their_records(demo):
    people.delete(demo, "admin", "6501001", reason="left")
    assert people.get(demo, "6501001") is None
    assert demo.db.scalar("SELECT count(*) FROM attendance WHERE student_id = '6501001'") == 0
    assert demo.db.scalar("SELECT reason FROM audit WHERE action = 'person.deleted'") == "left"


def test_preview_counts_rows_with_errors_not_errors(demo):
    """Issue #13: one row with a bad phone and a bad e-mail is one row with errors."""
    preview = parse_roster(b"student id,name,phone,email\n6609001,Good,0812345678,a@b.co\n"
                           b"6609002,Bad,12ab,not-an-email\n", "r.csv")
    assert len(preview.errors) == 2
    assert people.preview_summary(demo, preview)["errors"] == 1
    with pytest.raises(people.PersonError, match="^1 row"):
        people.commit_import(demo, preview, "op")
