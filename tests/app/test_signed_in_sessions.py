"""AppTest, issue #12: an open session follows its account (disabled, demoted, password reset) on its next run, a
staff click in a callback cannot act for a disabled user, and the sign-in form says the same for every refusal."""

from __future__ import annotations

import ast

import pytest
from streamlit.testing.v1 import AppTest

from core import auth, ceremonies
from core.config import PROJECT_ROOT
from tests.app.conftest import PASSWORDS, as_user, texts
from tests.app.test_pages import DENIED, PAGES

CONSOLE = PAGES["ceremony"]


def store():
    from pages._ui import get_app

    return get_app()  # the very app (and DuckDB file) the pages use


def signed_in(username: str) -> AppTest:
    """The whole app (menu, guards), signed in through its own form."""
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=30).run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(PASSWORDS[username])
    at.button[0].click().run()
    assert not at.exception and at.session_state["user"].username == username, texts(at, "error")
    return at


def shows_sign_in_form_only(at: AppTest) -> bool:
    keys = {w.key for w in at.text_input}
    return ("user" not in at.session_state and {"login_username", "login_password"} <= keys
            and set(texts(at, "title")) <= {"Rollcall"}  # the sign-in page's own, or none (a page's guard)
            and not at.get("html") and not at.metric and not at.dataframe)


def page_content(at: AppTest) -> bool:
    return bool(at.title or at.get("html"))


@pytest.mark.parametrize("page", list(PAGES))
def test_disabling_a_signed_in_operator_ends_the_session_on_every_page(seeded, page):
    at = signed_in("op")
    at.switch_page(PAGES[page]).run()
    assert not at.exception, at.exception
    if at.session_state["user"].may_open(page):
        assert page_content(at), f"{page} drew nothing for the operator"
    else:
        assert DENIED in texts(at, "error")
    auth.update_user(store(), "boss", "op", enabled=False, reason="left")
    at.run()
    assert not at.exception, at.exception
    assert shows_sign_in_form_only(at), (page, texts(at, "title"), texts(at, "warning"))
    # Re-enabled, the old session stays signed out: it has to sign in again.
    auth.update_user(store(), "boss", "op", enabled=True)
    at.run()
    assert shows_sign_in_form_only(at)


def test_every_page_guards_its_run_first():
    """The guard is the first thing each page does, after its imports and constants (the test above shows what it
    does; this one names the page that lost it)."""
    for page in PAGES:
        tree = ast.parse((PROJECT_ROOT / "pages" / f"{page}.py").read_text())
        first = next(node for node in tree.body if not isinstance(node, ast.Import | ast.ImportFrom)
                     and not (isinstance(node, ast.Expr | ast.Assign) and isinstance(node.value, ast.Constant)))
        call = first.value if isinstance(first, ast.Expr | ast.Assign) else None
        assert isinstance(call, ast.Call) and getattr(call.func, "id", "") in ("require", "require_view"), page


def test_a_demoted_operator_gets_the_viewer_menu_at_once(seeded):
    at = signed_in("op")
    at.switch_page(CONSOLE).run()
    assert texts(at, "title") == ["Ceremony console"]
    auth.update_user(store(), "boss", "op", role="viewer", reason="moved to another team")
    at.run()
    assert at.session_state["user"].role is auth.Role.VIEWER  # still signed in, as a viewer
    assert DENIED in texts(at, "error") and not at.title
    at.switch_page(PAGES["statistics"]).run()  # a viewer page opens
    assert not at.exception and texts(at, "title")


def test_a_click_after_the_operator_was_disabled_does_not_start_the_ceremony(seeded):
    """Widget callbacks run before the page's guard: the console's actions read the user again themselves."""
    app = store()
    cid = app.db.scalar("SELECT ceremony_id FROM ceremonies")
    at = as_user(CONSOLE, "op").run()
    at.session_state["console_ceremony"] = cid
    at.run()
    assert ceremonies.info(app, cid)["status"] == "planned"
    start = at.button(key="start")
    auth.update_user(app, "boss", "op", enabled=False, reason="left")
    start.click().run()
    assert ceremonies.info(app, cid)["status"] == "planned"
    assert "user" not in at.session_state and "Please sign in." in texts(at, "warning")
    assert app.db.scalar("SELECT count(*) FROM audit WHERE action = 'ceremony.started'") == 0


def test_a_demoted_operators_click_does_nothing_either(seeded):
    app = store()
    cid = app.db.scalar("SELECT ceremony_id FROM ceremonies")
    at = as_user(CONSOLE, "op")
    at.session_state["console_ceremony"] = cid
    at.run()
    start = at.button(key="start")
    auth.update_user(app, "boss", "op", role="viewer")
    start.click().run()
    assert ceremonies.info(app, cid)["status"] == "planned"
    assert DENIED in texts(at, "error")


def _fragment_page(cid: str) -> None:
    """A page whose fragment reruns alone: the account changes after the page's guard ran, as it does between a
    fragment's timed reruns."""
    import streamlit as st

    from core import auth
    from pages._ui import get_app, guard_fragment, require

    require("ceremony")
    if st.session_state.pop("disable_op_now", False):
        auth.update_user(get_app(), "boss", "op", enabled=False)

    @st.fragment
    def console() -> None:
        user = guard_fragment("ceremony")
        st.write(f"console of {user.username} for {cid}")

    console()


def test_a_fragment_rerun_checks_the_user_too(seeded):
    at = AppTest.from_function(_fragment_page, args=("c1",), default_timeout=30)
    at.session_state["user"] = auth.load_user(store(), "op")
    at.run()
    assert [m.value for m in at.markdown] == ["console of op for c1"]
    at.session_state["disable_op_now"] = True
    at.run()
    assert not at.exception, at.exception
    assert not at.markdown and "Please sign in." in texts(at, "warning") and "user" not in at.session_state


def test_a_password_reset_signs_out_the_users_other_tabs(seeded):
    tab_a, tab_b = signed_in("op"), signed_in("op")
    for tab in (tab_a, tab_b):
        tab.switch_page(PAGES["home"]).run()
        assert texts(tab, "title")
    one_time = auth.reset_password(store(), "boss", "op", reason="lost it")
    for tab in (tab_a, tab_b):
        tab.run()
        assert shows_sign_in_form_only(tab)
    # The new password works, and changing it (forced) keeps that tab while ending the user's other sessions.
    tab_c = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=30).run()
    tab_c.text_input(key="login_username").input("op")
    tab_c.text_input(key="login_password").input(one_time)
    tab_c.button[0].click().run()
    assert tab_c.session_state["user"].must_change
    tab_d = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=30).run()
    tab_d.text_input(key="login_username").input("op")
    tab_d.text_input(key="login_password").input(one_time)
    tab_d.button[0].click().run()
    tab_d.switch_page(PAGES["account"]).run()
    assert texts(tab_d, "title") == ["Your account"]
    tab_c.switch_page(PAGES["account"]).run()
    tab_c.text_input[0].input(one_time)
    tab_c.text_input[1].input("my-own-password-9")
    tab_c.text_input[2].input("my-own-password-9")
    tab_c.button[0].click().run()
    assert not texts(tab_c, "error") and tab_c.session_state["user"].must_change is False
    tab_c.switch_page(PAGES["home"]).run()
    assert texts(tab_c, "title")
    tab_d.run()
    assert shows_sign_in_form_only(tab_d)


def test_the_sign_in_form_says_the_same_for_every_refusal(seeded):
    app = store()
    auth.update_user(app, "boss", "vi", enabled=False)
    answers = {}
    for case, (username, password) in {"unknown": ("nobody", "nobody-pass-1"), "wrong": ("op", "not-the-one"),
                                       "disabled": ("vi", PASSWORDS["vi"])}.items():
        at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=30).run()
        at.text_input(key="login_username").input(username)
        at.text_input(key="login_password").input(password)
        at.button[0].click().run()
        answers[case] = texts(at, "error")
        assert "user" not in at.session_state
    assert answers["unknown"] == answers["wrong"] == answers["disabled"] == [auth.refused_message(app.settings)]
    reasons = set(app.db.query("SELECT reason FROM audit WHERE action = 'auth.login_failed'")["reason"])
    assert reasons == {"unknown user", "wrong password", "disabled"}  # the trail keeps why


def test_one_browser_session_is_slowed_after_its_failures(seeded):
    """Locally (no client address) the source is the browser session."""
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=30).run()
    burst = store().settings.signin_source_burst
    for i in range(burst + 1):
        at.text_input(key="login_username").input(f"nobody{i}")
        at.text_input(key="login_password").input("whatever-pass")
        at.button[0].click().run()
    assert texts(at, "error")[0].startswith("Too many failed sign-ins from here. Try again in")
    assert store().db.scalar("SELECT count(*) FROM audit WHERE action = 'auth.login_failed'") == burst


def test_signing_out_stops_the_check_in_camera_from_recording(seeded):
    """The camera's frames are recorded on a video thread in the operator's name: a disabled operator's open
    check-in page records nothing more (the browser's stream may outlive the page for a moment)."""
    from tests.app.test_checkin_page import start_session

    start_session()
    at = as_user(PAGES["checkin"], "op").run()
    live = at.session_state["checkin_live"]
    assert live.session_id == "LIVE-1"
    auth.update_user(store(), "boss", "op", enabled=False)
    at.run()
    assert "user" not in at.session_state and live.session_id is None and live.session is None
    live.close()
