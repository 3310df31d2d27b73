"""AppTest: sign-in, the role × page matrix, roster import preview and commit, people search."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from core import auth
from core.config import PROJECT_ROOT
from core.roles import PAGES as MENU
from core.roles import not_for_you
from core.services import Rollcall
from pages._ui import keyed
from tests.app.conftest import PASSWORDS, ROLES, as_user, texts

# The app's own list (core.roles.PAGES, the menu of streamlit_app.py): a page added there is tested here at once.
PAGES = {page.key: str(PROJECT_ROOT / page.file) for page in MENU}
DENIED = "You do not have access to this page."


def sign_in(username: str, password: str) -> AppTest:
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=30).run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click().run()
    return at


def test_sign_in_with_the_right_password(seeded):
    at = sign_in("boss", PASSWORDS["boss"])
    assert not at.exception and not texts(at, "error")
    assert at.session_state["user"].role is auth.Role.ADMIN
    at.switch_page("pages/home.py").run()
    assert [m.label for m in at.metric] == ["People", "Classes", "Ceremonies", "Active users"]
    assert at.metric[0].value == "60"


def test_wrong_password_is_refused_and_counted(seeded):
    at = sign_in("boss", "not-it")
    assert texts(at, "error") == [auth.refused_message(seeded)]
    assert "user" not in at.session_state


def test_first_sign_in_forces_a_new_password(seeded):
    app = Rollcall(seeded)
    one_time = auth.reset_password(app, "test", "op")
    app.close()
    at = sign_in("op", one_time)
    assert at.session_state["user"].must_change
    at.switch_page("pages/people.py").run()  # even by URL, nothing else opens before the change
    assert "Choose a new password on the Account page first." in texts(at, "warning")
    at.switch_page("pages/account.py").run()
    assert texts(at, "title") == ["Your account"]
    at.text_input[0].input(one_time)
    at.text_input[1].input("my-own-password-9")
    at.text_input[2].input("my-own-password-9")
    at.button[0].click().run()
    assert not texts(at, "error")
    assert at.session_state["user"].must_change is False


def test_every_page_is_in_the_menu_and_has_roles():
    files = {p.stem for p in (PROJECT_ROOT / "pages").glob("*.py") if not p.stem.startswith("_")} - {"login"}
    assert set(PAGES) == files == set(auth.PAGE_ROLES)
    assert {"sessions", "checkin", "statistics", "ceremony", "board", "announcer"} <= set(PAGES)


def test_a_page_not_for_a_role_says_who_may_open_it():
    users, sessions = (next(p for p in MENU if p.key == key) for key in ("users", "sessions"))
    assert not_for_you(users, auth.Role.VIEWER) == ("**Users** is open to admin accounts; you are signed in as "
                                                    "viewer. Ask an administrator if you need it.")
    assert "open to admin and operator accounts; you are signed in as student" in not_for_you(sessions,
                                                                                             auth.Role.STUDENT)


@pytest.mark.parametrize("username", list(ROLES))
@pytest.mark.parametrize("page", list(PAGES))
def test_each_role_sees_only_its_pages(seeded, username, page):
    at = as_user(PAGES[page], username).run()
    assert not at.exception, at.exception
    allowed = auth.User(username, auth.Role(ROLES[username])).may_open(page)
    assert (DENIED in texts(at, "error")) is (not allowed)
    if allowed:  # the announcer is a full-screen view without a title
        assert at.title or at.get("html"), f"{page} drew nothing for {username}"


@pytest.mark.parametrize("username", ["boss", "stu"])
def test_a_user_who_must_change_the_password_opens_only_the_account_page(seeded, username):
    from pages._ui import get_app

    auth.reset_password(get_app(), "test", username)  # must change it now (the session is the one signed in after)
    for page, script in PAGES.items():
        at = as_user(script, username)
        user = at.session_state["user"]
        assert user.must_change
        at.run()
        assert not at.exception, (page, at.exception)
        if page == "account":
            assert texts(at, "title") == ["Your account"]
            continue
        refusal = "Choose a new password on the Account page first." if user.may_open(page) else None
        assert refusal in texts(at, "warning") if refusal else DENIED in texts(at, "error"), page
        assert not at.title and not at.get("html"), page


def test_signed_out_visitor_is_refused_every_page(seeded):
    for script in PAGES.values():
        at = AppTest.from_file(script, default_timeout=30).run()
        assert "Please sign in." in texts(at, "warning")
        assert not at.title


def test_people_search_finds_thai_and_english(seeded):
    at = as_user(PAGES["people"], "op").run()
    assert "60 of 60 people" in at.caption[0].value
    name_th = at.dataframe[0].value.iloc[0]["name"]
    at.text_input(key="people_search").input(name_th.split()[0]).run()
    found = at.dataframe[0].value
    term = name_th.split()[0]
    assert len(found) >= 1 and term in found.iloc[0]["name"]
    assert all(term in f"{r['name']} {r['guardian_name']}" for _, r in found.iterrows())
    at.text_input(key="people_search").input("emma").run()
    assert list(at.dataframe[0].value["name_en"]) == ["Emma Johnson"]


def _upload(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    uploader = at.get("file_uploader")[0]
    uploader.upload(name, data, mime).run()
    return at


@pytest.fixture
def people_page(seeded):
    at = as_user(PAGES["people"], "op").run()
    assert at.get("file_uploader"), "the People page shows no roster uploader"
    return at


def test_import_preview_then_commit(people_page, seeded):
    csv = ("รหัสนักศึกษา,ชื่อ-นามสกุล,ชื่อภาษาอังกฤษ,สาขา,เบอร์โทร\n"
           "6501001,สมชาย ใจดี (แก้ไข),Somchai Jaidee,วิศวกรรมคอมพิวเตอร์,081-234-5678\n"
           "6609001,ปวีณา ทองคำ,Paweena Thongkham,นิเทศศาสตร์,0891112222\n").encode("utf-8-sig")
    at = _upload(people_page, "new.csv", csv)
    assert [m.value for m in at.metric] == ["1", "1", "0"]
    assert Rollcall(seeded).db.scalar("SELECT count(*) FROM people") == 60  # nothing written yet
    at.button(key="roster_commit").click().run()
    assert not at.exception
    app = Rollcall(seeded)
    assert app.db.scalar("SELECT count(*) FROM people") == 61
    assert app.db.scalar("SELECT name FROM people WHERE student_id = '6501001'") == "สมชาย ใจดี (แก้ไข)"
    assert app.db.scalar("SELECT phone FROM people WHERE student_id = '6609001'") == "0891112222"
    assert app.db.scalar("SELECT actor FROM audit WHERE action = 'roster.imported' AND actor = 'op'") == "op"


def test_import_with_bad_rows_shows_them_and_cannot_commit(people_page, seeded):
    csv = (b"student id,name,phone\n"
           b"6609001,Good Person,0812345678\n"
           b",No Id,0812345678\n"
           b"6609003,,0812345678\n"
           b"6609004,Bad Phone,12ab\n")
    at = _upload(people_page, "bad.csv", csv)
    assert "nothing has been imported" in " ".join(texts(at, "error"))
    errors = at.dataframe[1].value
    assert list(errors["Row"]) == [3, 4, 5]
    assert at.button(key="roster_commit").disabled
    assert Rollcall(seeded).db.scalar("SELECT count(*) FROM people") == 60


def test_a_file_that_is_not_a_spreadsheet_gets_a_clear_error(people_page):
    at = _upload(people_page, "photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    assert any("photo.csv" in e for e in texts(at, "error"))


def test_edit_a_person_is_saved_and_audited(seeded):
    at = as_user(PAGES["people"], "op").run()
    at.text_input(key="people_search").input("6501005").run()
    sid = at.dataframe[0].value.iloc[0]["student_id"]
    # Selecting a row is a browser event; set the selection state as the frontend would.
    at.session_state[keyed("people_table", "6501005")] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    form_inputs = [t for t in at.text_input if t.label == "Phone"]
    assert form_inputs, "the edit form did not open"
    form_inputs[0].input("0899990000")
    next(t for t in at.text_input if t.label.startswith("Reason for the change")).input("new number")
    next(b for b in at.button if b.label == "Save").click().run()
    app = Rollcall(seeded)
    assert app.db.scalar("SELECT phone FROM people WHERE student_id = ?", [sid]) == "0899990000"
    assert app.db.scalar("SELECT reason FROM audit WHERE action = 'person.upserted'") == "new number"


def test_a_new_search_starts_with_no_row_selected(seeded):
    """Issue #13: after searching another name, row 1 of the new results (someone else) opened for editing."""
    at = as_user(PAGES["people"], "op").run()
    at.text_input(key="people_search").input("6501005").run()
    table = at.dataframe[0]
    at.session_state[table.key] = {"selection": {"rows": [0], "columns": [], "cells": []}}  # as the browser does
    at.run()
    assert any(t.label == "Phone" for t in at.text_input) and "6501005" in at.caption[1].value
    at.text_input(key="people_search").input("6501006").run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["student_id"]) == ["6501006"]
    assert not any(t.label == "Phone" for t in at.text_input) and not at.subheader  # nobody is open
    assert at.dataframe[0].key != table.key


def test_no_table_shows_none_for_a_missing_value(seeded):
    """Issue #13: a missing value (no English name, no phone, no reason) is an empty cell, never the word "None":
    every table goes through pages._ui.grid, which sets st.dataframe's placeholder."""
    sources = {p.name: p.read_text() for p in (PROJECT_ROOT / "pages").glob("*.py") if p.name != "_ui.py"}
    assert [name for name, text in sources.items() if "st.dataframe(" in text] == []
    tables = 0
    for page, script in PAGES.items():
        username = next(u for u in ROLES if auth.User(u, auth.Role(ROLES[u])).may_open(page))
        at = as_user(script, username).run()
        assert not at.exception, (page, at.exception)
        for table in at.dataframe:
            assert table.proto.HasField("placeholder") and table.proto.placeholder == "", page
            tables += 1
    assert tables >= 10


def test_the_audit_page_words_details_with_local_times(seeded):
    """Issue #13: details were raw `key=value` with epoch-ms numbers."""
    at = as_user(PAGES["audit"], "boss").run()
    assert not at.exception, at.exception
    rows = at.dataframe[0].value
    scheduled = list(rows.loc[rows["action"] == "Scheduled a session", "detail"])
    assert scheduled and all(re.search(r"starts at: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d · ", d) for d in scheduled)
    assert not rows["detail"].str.contains(r"=|\b1\d{12}\b").any()  # no key=value, no epoch-ms


def test_admin_adds_a_user_and_sees_the_one_time_password_once(seeded):
    at = as_user(PAGES["users"], "boss").run()
    at.text_input[0].input("teacher1")
    at.text_input[1].input("ครูสมศรี")
    at.selectbox[0].select("operator")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not texts(at, "error")
    password = at.code[0].value
    assert auth.login(Rollcall(seeded), "teacher1", password).must_change
    at.run()
    assert not at.code  # shown once


def test_student_sees_own_attendance_only(seeded):
    at = as_user(PAGES["my_attendance"], "stu").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) > 0
    assert "6501001" in at.markdown[0].value


def test_admin_registers_a_device_and_sees_the_secret_once(seeded):
    at = as_user(PAGES["devices"], "boss").run()
    assert "No device yet. Register one below." in texts(at, "info")
    at.text_input[0].input("stage-1")
    at.text_input[1].input("front of stage")
    next(b for b in at.button if b.label == "Register").click().run()
    secret = at.code[0].value
    assert len(secret) == 64
    device = Rollcall(seeded).log.get_device("stage-1")
    assert device.secret == secret and device.enabled
    at.run()
    assert not at.code
    at.button(key="device_toggle").click().run()
    assert Rollcall(seeded).log.get_device("stage-1").enabled is False
    at.text_input[0].input("bad id!")
    next(b for b in at.button if b.label == "Register").click().run()
    assert any("device id" in e for e in texts(at, "error"))
