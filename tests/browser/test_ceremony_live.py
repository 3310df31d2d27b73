"""A live ceremony in a real browser: the simulator posts beams through the real receiver, the board
turns blue then green, and a graduate who never arrives turns red after a short timeout."""

from __future__ import annotations

import time

import pytest

from core import auth, ceremonies
from core.config import Settings
from core.eventlog import Event, SQLiteEventLog
from receiver.simulate import SimulatedDevice
from tests.browser.test_smoke import settle, sign_in
from tests.receiver.conftest import Receiver

pytestmark = pytest.mark.browser
CEREMONY = "grad-2026"  # the demo ceremony


def tile_status(page, student_id: str) -> str | None:
    tile = page.locator(f".rc-tile[data-student='{student_id}']")
    return tile.get_attribute("data-status") if tile.count() else None


def wait_status(page, student_id: str, status: str, timeout: float = 15) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if tile_status(page, student_id) == status:
            return time.monotonic() - start
        page.wait_for_timeout(50)
    raise AssertionError(f"{student_id} did not turn {status} within {timeout} s "
                         f"(it is {tile_status(page, student_id)})")


def wait_for_another_waiting(page, first: str, timeout: float = 30) -> str:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        tiles = page.locator(".rc-tile[data-status='waiting']")
        for n in range(tiles.count()):
            if (student := tiles.nth(n).get_attribute("data-student")) != first:
                return student
        page.wait_for_timeout(50)
    raise AssertionError("no other graduate turned waiting")


@pytest.fixture(scope="module")
def stage(app_server):
    """The receiver on the app's data folder, a registered stage sensor, and the demo ceremony running."""
    receiver = Receiver(app_server["data_dir"])
    secret = receiver.add_device("stage-e2e")
    receiver.start()
    log = SQLiteEventLog(app_server["data_dir"] / "events.sqlite")
    log.append([
        # No timeout while the board loads (a busy machine takes its time); the no-show part shortens it.
        Event.new("ceremony.settings", {"ceremony_id": CEREMONY, "absent_timeout_min": 60}, actor="test"),
        Event.new("ceremony.started", {"ceremony_id": CEREMONY}, actor="test"),
        Event.new("ceremony.called", {"ceremony_id": CEREMONY}, actor="test"),
        Event.new("user.created", {"username": "op-e2e", "role": "operator", "must_change": False,
                                   "password_hash": auth.hash_password("operator-e2e-pw")}, actor="test"),
    ])
    yield receiver, SimulatedDevice(receiver.url, "stage-e2e", secret), log
    receiver.stop()


def test_board_turns_blue_then_green_and_a_no_show_red(app_server, stage, page, screenshots):
    _, device, log = stage
    token = ceremonies.view_token(Settings(data_dir=app_server["data_dir"]), CEREMONY)
    page.goto(f"{app_server['url']}/?view=board&ceremony={CEREMONY}&token={token}")
    page.locator(".rc-tile").first.wait_for(timeout=30_000)
    first = page.locator(".rc-tile[data-status='waiting']").first.get_attribute("data-student")
    page.screenshot(path=screenshots / "20-board-waiting.png", full_page=True)

    assert device.send([device.event("beam.front")]).json()["accepted"] == 1
    wait_status(page, first, "on_stage")
    page.screenshot(path=screenshots / "21-board-on-stage.png", full_page=True)
    assert device.send([device.event("beam.back")]).json()["accepted"] == 1
    wait_status(page, first, "received")
    page.screenshot(path=screenshots / "22-board-received.png", full_page=True)

    # The next graduate is called and never reaches the stage: once the timeout is cut to 6 s, absent.
    log.append([Event.new("ceremony.called", {"ceremony_id": CEREMONY}, actor="test")])
    second = wait_for_another_waiting(page, first)
    log.append([Event.new("ceremony.settings", {"ceremony_id": CEREMONY, "absent_timeout_min": 0.1}, actor="test")])
    wait_status(page, second, "absent", timeout=60)
    page.screenshot(path=screenshots / "23-board-absent.png", full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0


def test_console_and_announcer_screens(app_server, stage, page, screenshots):
    sign_in(page, app_server["url"], "op-e2e", "operator-e2e-pw")
    page.locator("[data-testid='stSidebarNav']").get_by_text("Ceremony console", exact=True).click()
    page.get_by_role("heading", name="Ceremony console").wait_for(timeout=30_000)
    settle(page)
    page.get_by_role("button", name="Call next").click()
    page.wait_for_timeout(2000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_text("Card QR of the graduate being called").count() == 1
    page.screenshot(path=screenshots / "24-console.png", full_page=True)

    token = ceremonies.view_token(Settings(data_dir=app_server["data_dir"]), CEREMONY)
    page.goto(f"{app_server['url']}/?view=announcer&ceremony={CEREMONY}&token={token}")
    page.locator(".rc-now").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=screenshots / "25-announcer.png")
    page.goto(f"{app_server['url']}/?view=announcer&ceremony={CEREMONY}&token={token}&mode=lower-third&bg=green")
    page.locator(".rc-band").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=screenshots / "26-announcer-lower-third.png")
