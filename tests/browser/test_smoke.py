"""Smoke test in a real browser: sign in, open every page of each role, no exception, screenshots."""

from __future__ import annotations

import pytest

from core import auth
from core.eventlog import Event, SQLiteEventLog

pytestmark = pytest.mark.browser

ADMIN_PAGES = ["Overview", "People", "Statistics", "Ceremony console", "Live board", "Announcer", "Users",
               "Devices", "Audit trail", "Account", "Sessions", "Check-in", "Privacy"]
# Pages whose heading is not their menu title (the board shows the ceremony's name; the announcer shows names).
HEADINGS = {"Account": "Your account", "Live board": "พิธีพระราชทานปริญญาบัตร", "Announcer": None}
READY = {"Statistics": ".js-plotly-plot .main-svg", "Live board": ".rc-tile", "Announcer": ".rc-now"}
NEW_PASSWORD = "correct-horse-battery"


def settle(page) -> None:
    """Wait until Streamlit has finished the current run."""
    page.wait_for_selector("[data-testid='stApp']")
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"] button')"
        " && !document.querySelector('[data-testid=\"stSkeleton\"]')",
        timeout=30_000,
    )
    page.wait_for_timeout(300)


def field(page, label: str):
    return page.get_by_role("textbox", name=label, exact=True)


def sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    field(page, "User name").fill(username)
    field(page, "Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    settle(page)


def open_page(page, title: str) -> None:
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    heading = HEADINGS.get(title, title)
    if heading:
        page.get_by_role("heading", name=heading).first.wait_for(timeout=30_000)
    if title in READY:  # charts and live tiles draw after the page's first run
        page.locator(READY[title]).first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
    settle(page)
    assert page.locator("[data-testid='stException']").count() == 0, f"exception on {title}"


def test_admin_signs_in_changes_password_and_opens_every_page(app_server, page, screenshots):
    sign_in(page, app_server["url"], "admin", app_server["admin_password"])
    page.get_by_role("heading", name="Your account").wait_for()
    page.screenshot(path=screenshots / "00-first-sign-in.png")
    field(page, "Current password").fill(app_server["admin_password"])
    page.get_by_role("textbox", name="New password (at least").fill(NEW_PASSWORD)
    field(page, "New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.get_by_role("heading", name="Overview").wait_for(timeout=30_000)
    settle(page)
    nav = page.locator("[data-testid='stSidebarNav']")
    for title in ADMIN_PAGES:
        assert nav.get_by_text(title, exact=True).count() == 1, title
    assert nav.get_by_text("My attendance", exact=True).count() == 0
    for n, title in enumerate(ADMIN_PAGES, 1):
        open_page(page, title)
        page.screenshot(path=screenshots / f"{n:02d}-admin-{title.lower().replace(' ', '-')}.png", full_page=True)

    # The demo roster's Thai names are on the People page, and Thai search finds them.
    open_page(page, "People")
    field(page, "Search").fill("สมชาย")
    field(page, "Search").press("Enter")
    settle(page)
    assert page.get_by_text("of 60 people").count() == 1
    page.screenshot(path=screenshots / "06-people-thai-search.png", full_page=True)


def test_student_sees_only_their_own_attendance(app_server, page, screenshots):
    # Another process (here the test) appends to the event log; the app's ingestor folds it in.
    log = SQLiteEventLog(app_server["data_dir"] / "events.sqlite")
    log.append([Event.new("user.created", {
        "username": "s6501001", "role": "student", "student_id": "6501001",
        "password_hash": auth.hash_password("student-pass-1"), "must_change": False}, actor="test")])
    page.wait_for_timeout(1500)
    sign_in(page, app_server["url"], "s6501001", "student-pass-1")
    page.get_by_role("heading", name="My attendance").wait_for(timeout=30_000)
    settle(page)
    nav = page.locator("[data-testid='stSidebarNav']")
    assert nav.get_by_text("People", exact=True).count() == 0
    assert nav.get_by_text("Users", exact=True).count() == 0
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_text("6501001").count() >= 1
    page.screenshot(path=screenshots / "10-student-my-attendance.png", full_page=True)
