"""The check-in kiosk in a real browser with a fake webcam (issue #13): staff lock the device to a session; without a
click the camera starts, the enrolled person is welcomed by name with a chime; no menu, and a refresh or a typed
address stays on the kiosk; staff unlock it with their password."""

from __future__ import annotations

import os
import time

import pytest

from core import auth
from core.config import Settings
from core.runtime import open_app
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS, bootstrap, serve_app
from tests.browser.test_checkin_live import event, make_clip
from tests.browser.test_smoke import field, settle, sign_in
from tests.checkin.conftest import OBAMA

pytestmark = pytest.mark.browser
PASSWORD = "kiosk-op-e2e-pw"
# Counts the autoplaying audio elements the page ever shows: the chime is drawn with its welcome and gone after.
CHIME_COUNTER = """
window.__chimes = 0;
new MutationObserver(changes => changes.forEach(change => change.addedNodes.forEach(node => {
  if (node.nodeType === 1 && (node.matches('audio[autoplay]') || node.querySelector('audio[autoplay]'))) {
    window.__chimes += 1;
  }
}))).observe(document, {subtree: true, childList: true});
"""


@pytest.fixture(scope="module")
def kiosk_app(tmp_path_factory, photos):
    root = tmp_path_factory.mktemp("kiosk")
    env = {**os.environ, "ROLLCALL_DATA_DIR": str(root / "data")}
    bootstrap(root / "data", env)
    app = open_app(Settings(data_dir=root / "data"), workers=False)
    app.faces.record_consent(OBAMA, "signed form", "test")
    assert all(v.accepted for v in app.faces.enroll(OBAMA, [(n, (photos / n).read_bytes())
                                                            for n in ("obama.jpg", "obama3.jpg")], "test"))
    starts = int(time.time() * 1000) - 5 * 60_000
    app.submit(event("class.upserted", {"class_id": "DOOR", "name": "Front door", "members": [OBAMA]}),
               event("user.created", {"username": "door-op", "role": "operator", "must_change": False,
                                      "password_hash": auth.hash_password(PASSWORD)}),
               event("session.scheduled", {"session_id": "K-1", "class_id": "DOOR", "starts_at_ms": starts,
                                           "ends_at_ms": starts + 3600_000, "late_after_min": 10}),
               event("session.started", {"session_id": "K-1", "late_after_min": 10}))
    app.close()
    clip = root / "clip.y4m"
    make_clip(photos, clip)
    with serve_app(env, root / "streamlit.log") as url:
        yield {"url": url, "clip": clip}


@pytest.fixture
def tablet(pw, kiosk_app):
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={kiosk_app['clip']}", "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--autoplay-policy=no-user-gesture-required"])
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="th-TH")
    page = context.new_page()
    page.add_init_script(CHIME_COUNTER)
    yield page
    browser.close()


def on_kiosk(page) -> None:
    page.get_by_text("Front door · check-in").wait_for(timeout=60_000)
    settle(page)
    assert page.locator("[data-testid='stSidebarNav']").count() == 0
    assert page.get_by_role("button", name="Sign out").count() == 0


def test_a_locked_kiosk_welcomes_people_by_itself_and_only_staff_unlock_it(kiosk_app, tablet, screenshots):
    page, url = tablet, kiosk_app["url"]
    sign_in(page, url, "door-op", PASSWORD)
    page.locator("[data-testid='stSidebarNav']").get_by_text("Check-in kiosk", exact=True).click()
    page.get_by_role("button", name="Lock this device as a kiosk").click()
    on_kiosk(page)
    # No START click: the camera starts by itself, and the enrolled face is welcomed by name, with the chime.
    welcome = page.locator(f"[data-testid='rc-welcome'][data-student='{OBAMA}']")
    welcome.wait_for(timeout=90_000)
    assert "✓ Welcome, " in welcome.inner_text()
    # The chime, with its welcome: it plays (the test browser allows sound without a tap; a kiosk tablet is
    # tapped once, on Lock, before its first welcome).
    page.wait_for_function("() => [...document.querySelectorAll('audio[autoplay]')].some(a => a.played.length > 0)",
                           timeout=30_000)
    page.wait_for_timeout(3000)  # still in view, already recorded: no second welcome, no second chime
    assert page.evaluate("window.__chimes") == 1
    assert page.get_by_text("Hold your QR card").count() == 1
    page.screenshot(path=screenshots / "63-kiosk-welcome.png")

    page.reload()  # someone presses F5, or types another address: still the kiosk
    on_kiosk(page)
    page.goto(f"{url}/people")
    on_kiosk(page)
    assert page.get_by_role("heading", name="People").count() == 0
    page.screenshot(path=screenshots / "64-kiosk-after-refresh.png")

    page.get_by_text("Staff", exact=True).click()
    field(page, "User name").fill("door-op")
    field(page, "Password").fill(PASSWORD)
    page.get_by_role("button", name="Unlock").click()
    page.locator("[data-testid='stSidebarNav']").wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_role("button", name="Sign out").count() == 1
