"""Issue #13 item 10 in a real browser: a save keeps the open tab; a reason typed into a box and the button clicked
at once (the box still has the focus) acts on that first click."""

from __future__ import annotations

import pytest

from core import auth
from core.eventlog import Event, SQLiteEventLog
from tests.browser.test_smoke import field, open_page, settle, sign_in

pytestmark = pytest.mark.browser


def add_user(app_server, username: str, role: str, password: str, *extra: Event) -> None:
    log = SQLiteEventLog(app_server["data_dir"] / "events.sqlite")
    log.append([Event.new("user.created", {"username": username, "role": role, "must_change": False,
                                           "password_hash": auth.hash_password(password)}, actor="test"), *extra])
    log.close()


def selected_tab(page) -> str:
    return page.get_by_role("tab", selected=True).first.inner_text().strip()


def test_saving_a_class_keeps_the_classes_tab(app_server, page, screenshots):
    add_user(app_server, "op-tabs", "operator", "operator-tabs-pw1")
    sign_in(page, app_server["url"], "op-tabs", "operator-tabs-pw1")
    open_page(page, "Sessions")
    page.get_by_role("tab", name="Classes").click()
    settle(page)
    field(page, "Class id").fill("TAB101")
    field(page, "Name").fill("Tabs stay open")
    page.get_by_role("button", name="Save class").click()
    settle(page)
    page.get_by_text("Class TAB101 saved.").first.wait_for(timeout=30_000)
    assert selected_tab(page) == "Classes"
    page.screenshot(path=screenshots / "55-class-saved-tab-kept.png")


def test_a_reason_typed_and_clicked_at_once_counts_on_the_first_click(app_server, page, screenshots):
    consent = Event.new("consent.recorded", {"student_id": "6501005", "method": "signed form"}, actor="test")
    add_user(app_server, "boss-tabs", "admin", "admin-tabs-pw-1", consent)
    sign_in(page, app_server["url"], "boss-tabs", "admin-tabs-pw-1")
    open_page(page, "Privacy")
    page.get_by_role("tab", name="Consent register").click()
    settle(page)
    page.get_by_role("combobox", name="Person").first.click()
    page.get_by_role("option", name="6501005").first.click()
    settle(page)
    field(page, "Why (kept in the audit trail)").fill("asked by e-mail")  # the box keeps the focus
    page.get_by_role("button", name="Revoke consent").click()  # one click
    page.get_by_text("Consent of 6501005 revoked").wait_for(timeout=30_000)
    settle(page)
    assert selected_tab(page) == "Consent register"  # and the page did not jump back to Policy
    page.screenshot(path=screenshots / "56-revoked-on-first-click.png")
