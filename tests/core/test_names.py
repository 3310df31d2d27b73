"""Issue #13: honorifics do not drive the order of names; Python's key and SQL's agree."""

from __future__ import annotations

import random
from datetime import date

import duckdb
import pytest

from core import ceremonies, people
from core.eventlog import Event
from core.names import sort_key, sort_sql, strip_title

NAMES = ["นายสมชาย ใจดี", "นางสาวกมล ดีมาก", "นาง ศิริพร บุญมา", "ด.ช.ขนม ทองคำ", "ด.ญ.อรอุมา ศรีสุข", "เอกชัย แสงทอง",
         "ไก่ มั่นคง", "ข้าว ใจดี", "Mr. Zed Young", "Mrs Bee Hive", "Ms. Cat Stevens", "Miss Anna Bell",
         "Missy Elliott", "ยุพา รุ่งเรือง", "นาย", "Émile Zola"]


@pytest.mark.parametrize(("name", "bare"), [
    ("นายสมชาย ใจดี", "สมชาย ใจดี"), ("นางสาวกมล ดีมาก", "กมล ดีมาก"), ("นาง ศิริพร บุญมา", "ศิริพร บุญมา"),
    ("ด.ช.ขนม ทองคำ", "ขนม ทองคำ"), ("ด.ญ.อรอุมา ศรีสุข", "อรอุมา ศรีสุข"), ("Mr. Zed Young", "Zed Young"),
    ("Mrs Bee Hive", "Bee Hive"), ("ms. Cat Stevens", "Cat Stevens"), ("Miss Anna Bell", "Anna Bell"),
    ("Missy Elliott", "Missy Elliott"), ("นาย", "นาย"), (None, ""), (float("nan"), ""), ("  กิตติ  ", "กิตติ")])
def test_strip_title(name, bare):
    assert strip_title(name) == bare


def test_titles_do_not_drive_the_order():
    # By the name after the title, in Thai dictionary order (a leading vowel sorts by the consonant after it),
    # Thai before Latin; a bare title is a name.
    assert sorted(NAMES, key=sort_key) == [
        "นางสาวกมล ดีมาก", "ไก่ มั่นคง", "ด.ช.ขนม ทองคำ", "ข้าว ใจดี", "นาย", "ยุพา รุ่งเรือง", "นาง ศิริพร บุญมา",
        "นายสมชาย ใจดี", "ด.ญ.อรอุมา ศรีสุข", "เอกชัย แสงทอง",
        "Miss Anna Bell", "Mrs Bee Hive", "Ms. Cat Stevens", "Émile Zola", "Missy Elliott", "Mr. Zed Young"]

def test_sql_sorts_as_sort_key_does():
    shuffled = NAMES + [None, ""]
    random.Random(13).shuffle(shuffled)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (name VARCHAR, n INTEGER)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [[name, n] for n, name in enumerate(shuffled)])
    in_sql = [n for (n,) in con.execute(f"SELECT n FROM t ORDER BY {sort_sql('name')}, n").fetchall()]
    in_python = sorted(range(len(shuffled)), key=lambda n: (sort_key(shuffled[n]), n))
    assert in_sql == in_python


def test_people_and_a_ceremony_by_name_ignore_titles(app):
    rows = [{"student_id": f"T{n:02d}", "name": name} for n, name in enumerate(NAMES)]
    app.submit(Event.new("roster.imported", {"file_name": "t.csv", "encoding": "utf-8",
                                             "columns": ["student_id", "name"], "rows": rows}))
    expected = sorted(NAMES, key=sort_key)
    assert list(people.search(app, "")["name"]) == expected
    cid = ceremonies.create(app, "op", name="By name", on_date=date(2026, 3, 1), order="name")
    assert list(ceremonies.board(app, cid)["name"]) == expected
