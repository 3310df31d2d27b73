"""Issue #13 small items in a real browser: Call next within reach of the counters on a phone; the screen links as
links with QR codes that open the board; a bad screen link explains itself."""

from __future__ import annotations

import pytest

from core import auth
from core.eventlog import Event, SQLiteEventLog
from tests.browser.test_smoke import field, settle, sign_in

pytestmark = pytest.mark.browser

CEREMONY = "grad-2026"  # the demo ceremony
PHONE = {"width": 390, "height": 844}
HEADER = 100  # Streamlit's top bar over the page


def add_operator(app_server, username: str, password: str, *extra: Event) -> None:
    log = SQLiteEventLog(app_server["data_dir"] / "events.sqlite")
    log.append([Event.new("user.created", {"username": username, "role": "operator", "must_change": False,
                                           "password_hash": auth.hash_password(password)}, actor="test"), *extra])
    log.close()


def test_on_a_phone_call_next_is_on_the_same_screen_as_the_counters(app_server, browser, screenshots):
    add_operator(app_server, "op-phone", "operator-phone-pw1",
                 Event.new("ceremony.started", {"ceremony_id": CEREMONY}, actor="test"),
                 Event.new("ceremony.called", {"ceremony_id": CEREMONY}, actor="test"))
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="th-TH")
    page = context.new_page()
    try:
        page.goto(f"{app_server['url']}/ceremony")
        field(page, "User name").fill("op-phone")
        field(page, "Password").fill("operator-phone-pw1")
        page.get_by_role("button", name="Sign in").click()
        call_next = page.get_by_role("button", name="Call next")
        call_next.wait_for(timeout=30_000)
        settle(page)
        first_counter = page.get_by_text("Pending", exact=True).first
        top, button = first_counter.bounding_box()["y"], call_next.bounding_box()
        # Scrolled to the counters, Call next is on the same screen (it was two screens further down).
        assert button["y"] + button["height"] - top < PHONE["height"] - HEADER, (top, button)
        # The expander just above the counters at the top (the page scrolls inside a div, under the top bar).
        page.get_by_text("Links for the big screens").evaluate("el => el.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)
        page.screenshot(path=screenshots / "60-phone-console-390x844.png")
        call_next.tap()
        page.get_by_text("2 of 60 called").or_(page.get_by_text("Waiting")).first.wait_for(timeout=30_000)
    finally:
        context.close()


def test_screen_links_open_the_board_and_a_bad_one_explains_itself(app_server, page, screenshots):
    add_operator(app_server, "op-links", "operator-links-pw1")
    sign_in(page, app_server["url"], "op-links", "operator-links-pw1")
    page.locator("[data-testid='stSidebarNav']").get_by_text("Ceremony console", exact=True).click()
    page.get_by_text("Links for the big screens").click()
    board_link = page.get_by_test_id("stMainBlockContainer").get_by_role("link", name="Live board")
    board_link.wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_text("Open on the screen").count() == 4  # a QR code under each
    page.get_by_text("Links for the big screens").scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "61-screen-links-with-qr.png")
    href = board_link.get_attribute("href")
    assert href.startswith(app_server["url"] + "/?") and "view=board" in href and "token=" in href

    screen = page.context.browser.new_context(viewport={"width": 1400, "height": 900}).new_page()  # the TV
    try:
        screen.goto(href)
        screen.locator(".rc-tile").first.wait_for(timeout=30_000)
        assert field(screen, "User name").count() == 0
        mac = href.split("token=", 1)[1].split("&", 1)[0].rsplit(".", 1)[1]
        bad = href.replace(mac, mac[:-1] + ("0" if mac[-1] != "0" else "1"))  # a link copied wrongly (or forged)
        screen.goto(bad)
        screen.get_by_role("heading", name="This screen link does not work").wait_for(timeout=30_000)
        settle(screen)
        assert screen.get_by_text("Ask staff for a new one").count() == 1
        assert screen.locator(".rc-tile").count() == 0
        screen.screenshot(path=screenshots / "62-bad-screen-link.png")
    finally:
        screen.context.close()
