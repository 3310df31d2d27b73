"""Issue #12 in a real browser: an open session follows its account. The console's live fragment reruns on its own
timer (AppTest cannot run those): when the operator is disabled it shows the sign-in form without a click; a password
reset by an admin signs out the user's other tab on its next run."""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from core import auth
from core.eventlog import Event, SQLiteEventLog
from tests.browser.test_smoke import field, open_page, settle, sign_in

pytestmark = pytest.mark.browser


def add_operator(log: SQLiteEventLog, username: str, password: str) -> None:
    log.append([Event.new("user.created", {"username": username, "role": "operator", "must_change": False,
                                           "password_hash": auth.hash_password(password)}, actor="test")])


def test_disabling_an_operator_signs_out_the_open_console_by_itself(app_server, page, screenshots):
    log = SQLiteEventLog(app_server["data_dir"] / "events.sqlite")
    add_operator(log, "op-disabled", "operator-e2e-pw1")
    sign_in(page, app_server["url"], "op-disabled", "operator-e2e-pw1")
    open_page(page, "Ceremony console")
    # Another process (an admin elsewhere) disables the account: the app folds it from the event log.
    log.append([Event.new("user.updated", {"username": "op-disabled", "enabled": False, "reason": "left"},
                          actor="admin")])
    # No click: the console's timed fragment reads the user again and the whole app runs again, signed out.
    field(page, "User name").wait_for(timeout=30_000)
    settle(page)
    page.screenshot(path=screenshots / "40-disabled-operator-signed-out.png")
    assert page.get_by_role("heading", name="Ceremony console").count() == 0
    assert page.get_by_role("button", name="Call next").count() == 0
    log.close()


def test_a_password_reset_signs_out_the_other_tab(app_server, browser, page):
    log = SQLiteEventLog(app_server["data_dir"] / "events.sqlite")
    add_operator(log, "op-reset", "operator-e2e-pw2")
    other = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    try:
        for tab in (page, other):
            sign_in(tab, app_server["url"], "op-reset", "operator-e2e-pw2")
            open_page(tab, "Overview")
        log.append([Event.new("user.password_set", {"username": "op-reset", "must_change": True, "reason": "lost",
                                                    "password_hash": auth.hash_password("one-time-pass-1")},
                              actor="admin")])
        # The app folds the reset from the log a moment later: the first run after that signs the tab out.
        # Runs by clicks, alternating pages (a click on the open page runs nothing); the menu may vanish between a
        # look and a click on a busy machine: that is the sign-out itself.
        for n in range(30):
            item = other.locator("[data-testid='stSidebarNav']").get_by_text(("People", "Overview")[n % 2], exact=True)
            if field(other, "User name").count() or item.count() == 0:
                break
            try:
                item.click(timeout=5_000)
            except PlaywrightTimeout:
                break
            settle(other)
        field(other, "User name").wait_for(timeout=30_000)
        assert other.get_by_role("heading", name="People").count() == 0
        assert other.locator("[data-testid='stSidebarNav']").count() == 0  # no menu, no "Signed in as"
        assert "Signed in as" not in other.locator("[data-testid='stSidebar']").all_inner_texts().__str__()
        # The new password signs in (and must be changed first).
        sign_in(other, app_server["url"], "op-reset", "one-time-pass-1")
        other.get_by_role("heading", name="Your account").wait_for(timeout=30_000)
    finally:
        other.context.close()
        log.close()
