"""Issue #13 item 2 in a real browser: a refresh, a bookmark or a new tab keeps staff signed in (a signed session
cookie); a deep link signs in to the page asked for; a disabled user's, an expired, a tampered or a signed-out
cookie is refused."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from core import auth, session_tokens
from core.config import Settings
from core.eventlog import Event, SQLiteEventLog
from tests.browser.test_smoke import field, settle

pytestmark = pytest.mark.browser

PASSWORD = "operator-stay-pw1"


def add_operator(app_server, username: str, role: str = "operator") -> str:
    """A signed-in-ready operator (or other role), appended to the log as another process would; returns its
    password hash."""
    password_hash = auth.hash_password(PASSWORD)
    log = SQLiteEventLog(app_server["data_dir"] / "events.sqlite")
    log.append([Event.new("user.created", {"username": username, "role": role, "must_change": False,
                                           "password_hash": password_hash}, actor="test")])
    log.close()
    return password_hash


def sign_in_here(page, username: str) -> None:
    field(page, "User name").fill(username)
    field(page, "Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    settle(page)


def signed_in_on(page, heading: str) -> bool:
    page.get_by_role("heading", name=heading).first.wait_for(timeout=30_000)
    settle(page)
    return field(page, "User name").count() == 0 and page.get_by_text("Page not found").count() == 0


def shows_sign_in(page) -> bool:
    field(page, "User name").wait_for(timeout=30_000)
    settle(page)
    return page.get_by_text("Page not found").count() == 0 and page.get_by_text("Signed in as").count() == 0


def session_cookie(page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == session_tokens.COOKIE), None)


def forged(app_server, username: str, password_hash: str, *, issued: float, expires: float) -> str:
    """A token signed with the app's real key (the test reads the data folder's master key): only its times vary."""
    app = SimpleNamespace(settings=Settings(data_dir=app_server["data_dir"]))
    token = session_tokens.SessionToken(username, "B" * 22, int(issued), int(expires))
    return token.text(app, auth.password_fingerprint(password_hash))


def with_cookie(browser, app_server, value: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": session_tokens.COOKIE, "value": value, "url": app_server["url"]}])
    return context.new_page()


def test_a_refresh_a_new_tab_and_a_bookmark_stay_signed_in(app_server, page, screenshots):
    url = app_server["url"]
    add_operator(app_server, "op-stay")
    # A bookmarked page before signing in: the sign-in form at that address, then the page itself.
    page.goto(f"{url}/sessions")
    assert shows_sign_in(page)
    page.screenshot(path=screenshots / "50-deep-link-sign-in.png")
    sign_in_here(page, "op-stay")
    assert signed_in_on(page, "Sessions")
    assert page.url.rstrip("/").endswith("/sessions")
    cookie = session_cookie(page)
    assert cookie is not None and cookie["sameSite"] == "Strict" and cookie["value"].startswith("v1~op-stay~")
    assert "sessions" not in cookie["value"] and PASSWORD not in cookie["value"]

    page.reload()  # F5
    assert signed_in_on(page, "Sessions")
    page.screenshot(path=screenshots / "51-after-refresh.png")

    tab = page.context.new_page()  # the board in a new tab of the same browser
    tab.goto(f"{url}/board")
    assert signed_in_on(tab, "พิธีพระราชทานปริญญาบัตร")
    assert "token=" not in tab.url  # nothing secret in an address someone may share
    tab.close()

    # Sign out: the cookie is gone here, and a copy of it taken before is refused everywhere.
    page.get_by_role("button", name="Sign out").click()
    assert shows_sign_in(page)
    page.wait_for_function(f"() => !document.cookie.includes('{session_tokens.COOKIE}=')", timeout=30_000)
    page.reload()
    assert shows_sign_in(page)
    replay = with_cookie(page.context.browser, app_server, cookie["value"])
    try:
        replay.goto(f"{url}/sessions")
        assert shows_sign_in(replay)
        replay.screenshot(path=screenshots / "52-replayed-cookie-refused.png")
    finally:
        replay.context.close()


def test_disabling_the_user_refuses_the_cookie(app_server, page):
    url = app_server["url"]
    add_operator(app_server, "op-gone")
    page.goto(url)
    sign_in_here(page, "op-gone")
    assert signed_in_on(page, "Overview")
    log = SQLiteEventLog(app_server["data_dir"] / "events.sqlite")
    log.append([Event.new("user.updated", {"username": "op-gone", "enabled": False, "reason": "left"},
                          actor="admin")])
    log.close()
    # The open tab's next run signs out (any click); a reload with the cookie is refused too.
    for _ in range(60):
        page.reload()
        settle(page)
        if field(page, "User name").count():
            break
    assert shows_sign_in(page)


def test_an_expired_or_tampered_cookie_is_refused(app_server, browser):
    url = app_server["url"]
    password_hash = add_operator(app_server, "op-forge")
    now = time.time()
    good = forged(app_server, "op-forge", password_hash, issued=now - 60, expires=now + 600)
    expired = forged(app_server, "op-forge", password_hash, issued=now - 7200, expires=now - 60)
    fields = good.split("~")
    tampered = "~".join([*fields[:4], str(int(now) + 40_000), *fields[5:]])  # a later expiry, the old signature
    other_user = "~".join([fields[0], "admin", *fields[2:]])
    # The genuine one proves the set-up: it signs in without a password.
    page = with_cookie(browser, app_server, good)
    try:
        page.goto(f"{url}/sessions")
        assert signed_in_on(page, "Sessions")
    finally:
        page.context.close()
    for value in (expired, tampered, other_user, "v1~op-forge~garbage"):
        page = with_cookie(browser, app_server, value)
        try:
            page.goto(f"{url}/sessions")
            assert shows_sign_in(page), value
            assert page.get_by_role("heading", name="Sessions").count() == 0
        finally:
            page.context.close()


def test_a_page_not_for_your_role_says_so_instead_of_page_not_found(app_server, page, screenshots):
    url = app_server["url"]
    add_operator(app_server, "viewer-link", role="viewer")
    page.goto(f"{url}/users")  # a link an administrator sent, opened by a viewer
    assert shows_sign_in(page)
    sign_in_here(page, "viewer-link")
    assert signed_in_on(page, "Users")
    page.get_by_text("is open to admin accounts; you are signed in as viewer").wait_for(timeout=30_000)
    assert page.get_by_text("User name").count() == 0 and page.get_by_text("Create a user").count() == 0
    assert page.locator("[data-testid='stSidebarNav']").get_by_text("Users").count() == 0  # not in the menu
    page.screenshot(path=screenshots / "53-not-for-your-role.png")
    page.get_by_role("link", name="Back to your first page").click()
    assert signed_in_on(page, "Overview")
