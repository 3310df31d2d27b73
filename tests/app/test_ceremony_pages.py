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
    # Not a bare sign-in page: it says why the link does not work and what to do (issue #13).
    assert [t.value for t in bad.title] == ["This screen link does not work"]
    assert "expired" in bad.error[0].value and "Links for the big screens" in bad.error[0].value
    assert bad.text_input(key="login_username") is not None  # staff may still sign in there


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


# --- issue #13 -------------------------------------------------------------------------------------

DEMO = "grad-2026"


def _link(app: Rollcall, view: str, ceremony_id: str = DEMO) -> AppTest:
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=30)
    at.query_params.update({"view": view, "ceremony": ceremony_id, "token": ceremonies.view_token(app, ceremony_id)})
    return at


def _html(at: AppTest) -> str:
    return " ".join(h.proto.body for h in at.get("html"))


def test_an_erased_graduate_shows_as_their_pseudonym(seeded):
    """Erasing a called graduate crashed the board and the announcer (their name is missing: NaN)."""
    from core.privacy import erase_person

    app = Rollcall(seeded)
    first = app.db.scalar("SELECT student_id FROM ceremony_entries WHERE ceremony_id = ? AND order_no = 1", [DEMO])
    ceremonies.act(app, "op", DEMO, "ceremony.started")
    ceremonies.call_next(app, "op", DEMO)
    pseudonym = erase_person(app, first, "boss", "written request").pseudonym
    assert pseudonym.startswith("erased-")
    links = {view: _link(app, view) for view in ("board", "announcer")}
    app.close()
    for view, at in links.items():
        at.run()
        assert not at.exception, (view, at.exception)
        assert f"data-student='{pseudonym}'" in _html(at), view
    board = _html(links["board"])
    assert f"data-status='waiting' style='background:#facc15;color:#1f2937;border-radius:10px;padding:8px 10px;" \
           f"min-height:64px'><div style='font-size:0.75rem;opacity:0.8'>#1 · Waiting</div>" \
           f"<div style='font-weight:600;line-height:1.25'>{pseudonym}</div>" in board
    announcer = _html(links["announcer"])
    assert f">{pseudonym}</div><div class='rc-en'></div>" in announcer
    for page in (BOARD, ANNOUNCER, CONSOLE):  # signed in, the same
        at = as_user(page, "op" if page == CONSOLE else "vi").run()
        assert not at.exception, (page, at.exception)
    assert f"## {pseudonym}" in texts(at, "markdown")  # the console: the graduate being called


def test_a_graduate_with_no_name_shows_their_id(seeded):
    app = Rollcall(seeded)
    known = app.db.scalar("SELECT student_id FROM people ORDER BY student_id LIMIT 1")
    app.submit(Event.new("ceremony.created", {
        "ceremony_id": "nameless", "name": "Nameless", "on_date": "2026-03-01", "venue": "", "absent_timeout_min": 5,
        "entries": [{"student_id": "6999001", "order_no": 1}, {"student_id": known, "order_no": 2}]}, actor="test"))
    assert app.db.scalar("SELECT p.name FROM ceremony_entries e LEFT JOIN people p USING (student_id) "
                         "WHERE e.student_id = '6999001'") is None
    ceremonies.act(app, "op", "nameless", "ceremony.started")
    ceremonies.call_next(app, "op", "nameless")
    links = {view: _link(app, view, "nameless") for view in ("board", "announcer")}
    app.close()
    for view, at in links.items():
        at.run()
        assert not at.exception, (view, at.exception)
    assert "<div style='font-weight:600;line-height:1.25'>6999001</div>" in _html(links["board"])
    assert "data-student='6999001'>6999001</div>" in _html(links["announcer"])


def test_a_screen_link_never_shows_a_traceback(seeded, monkeypatch):
    app = Rollcall(seeded)
    board, announcer, top = _link(app, "board"), _link(app, "announcer"), _link(app, "board")
    app.close()

    def broken(*args, **kwargs):
        raise RuntimeError("the read model is being swapped")

    monkeypatch.setattr(ceremonies, "board", broken)  # inside the live view
    board.run()
    assert not board.exception and "The board will be back in a moment." in texts(board, "caption")
    announcer.run()
    assert not announcer.exception and "RuntimeError" not in _html(announcer)
    monkeypatch.setattr(ceremonies, "info", broken)  # before it, at the top of the page
    top.run()
    assert not top.exception and "This screen will be back in a moment." in texts(top, "caption")


def test_the_announcer_says_next_from_the_waiting_line(seeded):
    """With #4 on stage and #5–#11 waiting it said 'Next: #12 · #13'."""
    app = Rollcall(seeded)
    ceremonies.act(app, "op", DEMO, "ceremony.started")
    for _ in range(11):
        ceremonies.call_next(app, "op", DEMO)
    beams = [("beam.front", n) if n % 2 == 0 else ("beam.back", n) for n in range(7)]  # #1–#3 received, #4 on stage
    app.submit(*[Event(id=f"stage-1:b:{n}", kind=kind, ts_ms=now_ms() + n, actor="stage-1", source="device",
                       payload={"device_id": "stage-1"}) for kind, n in beams])
    names = dict(ceremonies.board(app, DEMO)[["order_no", "name"]].values.tolist())
    state = ceremonies.load(app, DEMO)
    assert state.current().order_no == 4 and state.counts()["waiting"] == 7
    link = _link(app, "announcer")
    app.close()
    link.run()
    assert not link.exception, link.exception
    body = _html(link)
    assert f"Next: {names[5]} · {names[6]}" in body and names[12] not in body.split("rc-next")[-1]


def test_the_console_picker_shows_the_status_beside_the_choice(seeded):
    at = as_user(CONSOLE, "op").run()
    picker = at.selectbox(key="console_ceremony")
    assert "Status: Planned (not started)" in texts(at, "caption")
    at.button(key="start").click().run()
    assert not at.exception, at.exception
    assert "Status: Running" in texts(at, "caption")
    labels = at.selectbox(key="console_ceremony").options
    assert labels == picker.options and not any(s in " ".join(labels) for s in ("planned", "running", "ended"))
