"""AppTest: the ceremony console and the live board."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core import ceremonies
from core.config import PROJECT_ROOT
from core.eventlog import Event, now_ms
from core.services import Rollcall
from tests.app.conftest import as_user, texts
from tests.app.test_pages import PAGES

CONSOLE, BOARD, ANNOUNCER = (str(PROJECT_ROOT / "pages" / f"{p}.py") for p in ("ceremony", "board", "announcer"))


def test_console_creates_starts_and_calls(seeded):
    at = as_user(CONSOLE, "op").run()
    assert not at.exception, at.exception
    form_inputs = {t.label: t for t in at.text_input}
    form_inputs["Name"].input("พิธีทดลอง")
    next(b for b in at.button if b.label == "Create").click().run()
    assert not at.exception, at.exception
    app = Rollcall(seeded)
    cid = app.db.scalar("SELECT ceremony_id FROM ceremonies WHERE name = 'พิธีทดลอง'")
    assert cid and at.session_state["console_ceremony"] == cid
    at.button(key="start").click().run()
    assert Rollcall(seeded).db.scalar("SELECT status FROM ceremonies WHERE ceremony_id = ?", [cid]) == "running"
    at.button(key="call_next").click().run()
    assert not at.exception, at.exception
    state = ceremonies.load(Rollcall(seeded), cid)
    current = state.current()
    assert current.status == "waiting" and current.order_no == 1
    assert any(current.student_id in c.value for c in at.caption)  # the called graduate is shown
    assert at.get("image")  # with the card's QR code
    at.button(key="undo").click().run()
    assert ceremonies.load(Rollcall(seeded), cid).entries[current.student_id].status == "pending"


def test_override_without_a_reason_is_refused(seeded):
    app = Rollcall(seeded)
    cid = app.db.scalar("SELECT ceremony_id FROM ceremonies")
    ceremonies.act(app, "op", cid, "ceremony.started")
    app.close()
    at = as_user(CONSOLE, "op").run()
    next(b for b in at.button if b.label == "Change status").click().run()
    assert "Give a reason for changing a status by hand." in texts(at, "error")


def test_board_shows_counts_and_colours(seeded):
    app = Rollcall(seeded)
    cid = app.db.scalar("SELECT ceremony_id FROM ceremonies")
    ceremonies.act(app, "op", cid, "ceremony.started")
    ceremonies.call_next(app, "op", cid)
    ceremonies.call_next(app, "op", cid)
    app.submit(Event(id="stage-1:b:1", kind="beam.front", ts_ms=now_ms(), actor="stage-1", source="device",
                     payload={"device_id": "stage-1"}))
    app.close()
    at = as_user(BOARD, "vi").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Pending"], metrics["Waiting"], metrics["On stage"]) == ("58", "1", "1")
    board_html = at.get("html")[-1].proto.body
    assert board_html.count("class='rc-tile'") == 60
    assert "data-status='on_stage'" in board_html and "#3b82f6" in board_html


def test_board_link_works_without_sign_in_only_with_the_right_token(seeded):
    app = Rollcall(seeded)
    cid = app.db.scalar("SELECT ceremony_id FROM ceremonies")
    token = ceremonies.view_token(app, cid)
    app.close()
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=30)
    at.query_params.update({"view": "board", "ceremony": cid, "token": token})
    at.run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["พิธีพระราชทานปริญญาบัตร 2569 (Commencement 2026)"]
    bad = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=30)
    bad.query_params.update({"view": "board", "ceremony": cid, "token": "x" * 24})
    bad.run()
    assert [t.value for t in bad.title] == ["Rollcall"]  # the sign-in page


def test_announcer_shows_the_current_name_escaped(seeded):
    app = Rollcall(seeded)
    cid = app.db.scalar("SELECT ceremony_id FROM ceremonies")
    sid = app.db.scalar("SELECT student_id FROM ceremony_entries WHERE order_no = 1 AND ceremony_id = ?", [cid])
    from core import people

    people.update(app, "admin", sid, {"name": "<b>สมชาย</b> ใจดี"})
    ceremonies.act(app, "op", cid, "ceremony.started")
    ceremonies.call_next(app, "op", cid)
    app.close()
    at = as_user(ANNOUNCER, "vi").run()
    assert not at.exception, at.exception
    body = " ".join(h.proto.body for h in at.get("html"))
    assert "&lt;b&gt;สมชาย&lt;/b&gt; ใจดี" in body and "<b>สมชาย</b>" not in body


def test_each_ceremony_page_refuses_a_student(seeded):
    for page in (CONSOLE, BOARD, ANNOUNCER):
        at = as_user(page, "stu").run()
        assert "You do not have access to this page." in texts(at, "error")
    _ = PAGES
