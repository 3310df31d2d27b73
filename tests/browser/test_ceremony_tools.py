"""The ceremony tools in a real browser on a 1,500-graduate ceremony: the reader's prompter (Read ✓, keys, a
refresh keeps the place), the console's keys and its called-and-waiting line, the board a screen at a time with
department breaks, the printed sheets, and a rehearsal that leaves the real ceremony alone."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from core import auth, ceremonies
from core.config import Settings
from core.eventlog import Event, SQLiteEventLog
from tests.browser.conftest import bootstrap, serve_app
from tests.browser.test_smoke import settle, sign_in
from tests.telegram_fake import TelegramFake

pytestmark = pytest.mark.browser
BIG = "big-1500"
TOKEN = "123456:AAFakeFamilies"
DEPARTMENTS = [("คณะวิศวกรรมศาสตร์", 500), ("คณะนิเทศศาสตร์", 700), ("คณะวิทยาศาสตร์", 300)]
GIVEN = ["กิตติพัฒน์", "ปิยะฉัตร", "ณัฐพงศ์", "สุพัตรา", "ธนกฤต", "พิมพ์ชนก", "วรวุฒิ", "ฤทธิ์ณรงค์"]
FAMILY = ["ศรีสวัสดิ์", "ใจดี", "เลิศฤทธิ์ไกร", "ทองคำ", "บุญมี", "แก้วมณี"]


def graduates() -> list[dict]:
    rows, n = [], 0
    for dept, count in DEPARTMENTS:
        for _ in range(count):
            n += 1
            rows.append({"student_id": f"B{n:05d}", "name": f"{'นาย' if n % 2 else 'นางสาว'}{GIVEN[n % 8]} "
                                                           f"{FAMILY[n % 6]}",
                         "name_en": f"Graduate {n}", "department": dept,
                         "pronunciation": f"กิด-ติ-พัด {n}" if n % 3 else None})
    return rows


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """An app of its own (1,500 more people would change what the other browser tests count), with a running
    1,500-graduate ceremony and an operator."""
    data_dir = tmp_path_factory.mktemp("big") / "data"
    telegram = TelegramFake(token=TOKEN).start()
    env = {**os.environ, "ROLLCALL_DATA_DIR": str(data_dir), "ROLLCALL_TELEGRAM_BOT_TOKEN": TOKEN,
           "ROLLCALL_TELEGRAM_API_BASE": telegram.url, "ROLLCALL_FAMILY_MESSAGES": "true",
           "ROLLCALL_FAMILY_CHAT_ID": "@families"}
    bootstrap(data_dir, env)
    log = SQLiteEventLog(data_dir / "events.sqlite")
    rows = graduates()
    log.append([
        Event.new("roster.imported", {"file_name": "big.csv", "encoding": "utf-8", "part": 1, "parts": 1,
                                      "columns": ["student_id", "name", "name_en", "department", "pronunciation"],
                                      "rows": rows}, actor="test"),
        Event.new("ceremony.created", {"ceremony_id": BIG, "name": "พิธีพระราชทานปริญญาบัตร 1,500", "venue": "Hall",
                                       "on_date": "2026-12-02", "absent_timeout_min": 60,
                                       "entries": [{"student_id": r["student_id"], "order_no": n}
                                                   for n, r in enumerate(rows, 1)]}, actor="test"),
        Event.new("ceremony.started", {"ceremony_id": BIG}, actor="test"),
        Event.new("user.created", {"username": "op-tools", "role": "operator", "must_change": False,
                                   "password_hash": auth.hash_password("operator-tools-pw")}, actor="test"),
    ])
    with serve_app(env, tmp_path_factory.mktemp("logs") / "streamlit.log") as url:
        token = ceremonies.view_token(Settings(data_dir=data_dir), BIG)
        yield {"url": url, "log": log, "rows": rows, "link": f"{url}/?ceremony={BIG}&token={token}",
               "data_dir": data_dir, "telegram": telegram}
    telegram.stop()


def kinds_since(log: SQLiteEventLog, cursor: int) -> list[tuple[str, dict]]:
    """The ceremony's events since `cursor` (the families' channel records its messages beside them)."""
    return [(s.event.kind, s.event.payload) for s in log.read_after(cursor, 10_000)
            if s.event.kind.startswith("ceremony.")]


def wait_until(check, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := check()):
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def current_on_prompter(page) -> str | None:
    node = page.locator(".rp-current")
    return node.first.get_attribute("data-student") if node.count() else None


def wait_prompter(page, student_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if current_on_prompter(page) == student_id:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"the prompter shows {current_on_prompter(page)}, not {student_id}")


def test_the_reader_reads_names_in_order_with_pronunciation(big, page, screenshots):
    big["log"].append([Event.new("ceremony.called", {"ceremony_id": BIG}, actor="test") for _ in range(3)])
    page.goto(f"{big['link']}&view=announcer&mode=prompter")
    wait_prompter(page, "B00001")
    assert "กิด-ติ-พัด 1" in page.locator(".rp-current").inner_text()  # the pronunciation note, under the name
    assert page.locator(".rp-current .rp-dept").inner_text() == "คณะวิศวกรรมศาสตร์"  # the faculty starts here
    page.locator(".rp-next").nth(3).wait_for(timeout=20_000)
    assert page.locator(".rp-next").count() == 4
    page.screenshot(path=screenshots / "40-prompter.png")

    page.get_by_role("button", name="Read ✓").click()
    wait_prompter(page, "B00002")
    page.get_by_role("button", name="Read ✓").wait_for()
    page.keyboard.press("ArrowRight")  # the key (or a presentation clicker) does the same
    wait_prompter(page, "B00003")
    assert "read=B00002" in page.url
    page.reload()  # F5 or a second tablet on the same address: the same place
    wait_prompter(page, "B00003")
    page.get_by_role("button", name="◀ Back").wait_for()  # the keys belong to the buttons: drawn after the name
    page.keyboard.press("ArrowLeft")
    wait_prompter(page, "B00002")
    assert "Not called yet" not in page.locator(".rp-current").inner_text()

    # The reader may run ahead of the calls, into the next faculty, which the prompter announces.
    page.goto(f"{big['link']}&view=announcer&mode=prompter&read=B00499")
    wait_prompter(page, "B00500")
    page.locator(".rp-next .rp-break").first.wait_for(timeout=20_000)
    assert "Not called yet" in page.locator(".rp-current").inner_text()
    assert page.locator(".rp-next .rp-break").first.inner_text().endswith("คณะนิเทศศาสตร์")
    page.screenshot(path=screenshots / "41-prompter-next-faculty.png")
    assert page.locator("[data-testid='stException']").count() == 0


def test_the_board_of_1500_shows_a_screen_that_follows_the_ceremony(big, page, screenshots):
    page.goto(f"{big['link']}&view=board")
    page.locator(".rc-tile").first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    assert page.locator(".rc-tile").count() == 120  # a screen at a time, not 1,500 tiles
    assert page.locator(".rc-section").first.inner_text().startswith("คณะวิศวกรรมศาสตร์")
    # The ceremony moves on to #495: the screen follows, and the faculty break shows.
    big["log"].append([Event.new("ceremony.status_set", {"ceremony_id": BIG, "student_id": f"B{n:05d}",
                                                         "status": "received", "reason": "test"}, actor="test")
                       for n in range(1, 495)] + [Event.new("ceremony.called", {"ceremony_id": BIG}, actor="test")])
    page.locator(".rc-tile[data-student='B00495']").wait_for(timeout=30_000)
    page.wait_for_timeout(700)
    shown = page.locator(".rc-tile").evaluate_all("ts => ts.map(t => t.dataset.student)")
    assert shown[0] == "B00483" and len(shown) == 120 and "B00602" in shown
    sections = page.locator(".rc-section").all_inner_texts()
    assert sections == ["คณะวิศวกรรมศาสตร์ · 494 of 500 received", "คณะนิเทศศาสตร์ · 0 of 700 received"]
    page.screenshot(path=screenshots / "42-board-1500.png", full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0


def test_console_keys_and_the_called_and_waiting_line(big, page, screenshots):
    big["log"].append([Event.new("ceremony.called", {"ceremony_id": BIG}, actor="test")])  # someone in the line
    sign_in(page, big["url"], "op-tools", "operator-tools-pw")
    page.locator("[data-testid='stSidebarNav']").get_by_text("Ceremony console", exact=True).click()
    page.get_by_role("heading", name="Ceremony console").wait_for(timeout=30_000)
    settle(page)
    page.get_by_text("Called and waiting", exact=True).wait_for(timeout=30_000)
    log, cursor = big["log"], big["log"].head()

    def waiting_rows() -> int:
        text = page.locator("p", has_text="Called and waiting").first.inner_text()
        return int(text.split("(")[1].split()[0])

    def press(key: str, events: int, what: str) -> None:
        """Press a shortcut once the page is idle; a press that reached no button (the page was between runs on a
        busy machine: nothing was appended) is pressed again — a press that did act is never repeated. A press
        is given 45 s to act before it counts as lost: at 15 s a slow but working press was pressed again and
        undid twice (a full run, once)."""
        for _ in range(3):
            settle(page)
            page.keyboard.press(key)
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline:
                if len(kinds_since(log, cursor)) >= events:
                    return
                time.sleep(0.05)
        raise AssertionError(f"{what} did not happen")

    before = waiting_rows()
    press("n", 1, "N calls the next")
    wait_until(lambda: waiting_rows() == before + 1, "the line shows the call")
    press("n", 2, "N calls the one after")
    wait_until(lambda: waiting_rows() == before + 2, "the line shows the second call")
    page.locator("p", has_text="Called and waiting").first.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "43-console-called-and-waiting.png")
    press("u", 3, "U undoes the last call")
    wait_until(lambda: waiting_rows() == before + 1, "the line shows the undo")
    press("s", 4, "S skips")
    press("a", 5, "A marks the first waiting absent")
    wait_until(lambda: waiting_rows() == before, "the line shows the absent graduate gone")
    kinds = [k for k, _ in kinds_since(log, cursor)]
    assert kinds == ["ceremony.called", "ceremony.called", "ceremony.call_undone", "ceremony.skipped",
                     "ceremony.status_set"]

    # Typing in a text box is typing, not shortcuts.
    page.get_by_text("Change a status by hand").click()
    page.get_by_role("textbox", name="Reason (required").fill("sausages and nuts")
    page.wait_for_timeout(1500)
    assert len(kinds_since(log, cursor)) == 5
    assert page.locator("[data-testid='stException']").count() == 0


def test_families_hear_of_each_call_and_arrival_on_stage(big, page, screenshots):
    telegram, log = big["telegram"], big["log"]
    sign_in(page, big["url"], "op-tools", "operator-tools-pw")
    page.locator("[data-testid='stSidebarNav']").get_by_text("Ceremony console", exact=True).click()
    page.get_by_text("Families' Telegram channel: on").wait_for(timeout=30_000)
    settle(page)
    seen = len(telegram.messages)
    page.get_by_role("button", name="Call next").click()
    called = telegram.wait_for_messages(seen + 1, timeout=30)[seen]
    assert called.chat_id == "@families" and "approaching the stage (#" in called.text
    order_no = int(called.text.split("(#")[1].split(" ")[0].rstrip(")"))
    graduate = big["rows"][order_no - 1]
    assert called.text.startswith(f"🎓 {graduate['name']} — ")
    log.append([Event.new("stage.identified", {"ceremony_id": BIG, "student_id": graduate["student_id"],
                                               "method": "rfid"}, actor="test")])
    on_stage = telegram.wait_for_messages(seen + 2, timeout=30)[seen + 1]
    assert on_stage.text.startswith(f"🎓 {graduate['name']} — on stage now (#{order_no}")
    page.screenshot(path=screenshots / "46-console-families-on.png")


def download(page, button: str, path) -> None:
    page.get_by_role("button", name=button).click()
    link = page.get_by_role("button", name="Download the")
    link.wait_for(timeout=60_000)
    with page.expect_download() as got:
        link.click()
    got.value.save_as(path)


def test_sheets_print_and_a_rehearsal_leaves_the_ceremony_alone(big, page, screenshots, tmp_path):
    sign_in(page, big["url"], "op-tools", "operator-tools-pw")
    page.locator("[data-testid='stSidebarNav']").get_by_text("Ceremony console", exact=True).click()
    page.get_by_role("heading", name="Ceremony console").wait_for(timeout=30_000)
    settle(page)
    page.get_by_text("Printouts and rehearsal").click()
    page.get_by_text("Reader's sheet (names in large type").click()
    download(page, "Prepare the sheet (PDF, A4)", tmp_path / "reader.pdf")
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(tmp_path / "reader.pdf"),
                    str(screenshots / "44-reader-sheet")], check=True)
    pages = subprocess.run(["pdfinfo", str(tmp_path / "reader.pdf")], capture_output=True, text=True,
                           check=True).stdout
    assert "Pages:" in pages and int(pages.split("Pages:")[1].split()[0]) > 100  # 1,500 names

    # While the real ceremony runs, a rehearsal would take its beams: refused, with the reason.
    log = big["log"]
    page.get_by_role("button", name="Start a rehearsal").click()
    page.get_by_text("A ceremony is running").wait_for(timeout=30_000)
    log.append([Event.new("ceremony.ended", {"ceremony_id": BIG}, actor="test")])
    page.wait_for_timeout(1500)
    cursor = log.head()
    if not page.get_by_role("button", name="Start a rehearsal").is_visible():
        page.get_by_text("Printouts and rehearsal").click()
    page.get_by_role("button", name="Start a rehearsal").click()
    page.get_by_text("Rehearsal —").first.wait_for(timeout=30_000)
    settle(page)
    page.get_by_role("button", name="Call next").click()
    wait_until(lambda: any(k == "ceremony.called" for k, _ in kinds_since(log, cursor)), "a call in the rehearsal")
    page.wait_for_timeout(1000)
    page.screenshot(path=screenshots / "45-rehearsal-console.png", full_page=True)
    page.get_by_role("button", name="End the rehearsal (reset it)").click()
    wait_until(lambda: sum(k == "ceremony.created" for k, _ in kinds_since(log, cursor)) == 2, "the reset")
    touched = {p.get("ceremony_id") for _, p in kinds_since(log, cursor)}
    assert touched == {f"rehearsal-{BIG}"}  # nothing the rehearsal did names the real ceremony
    page.get_by_text("Rehearsal —").first.wait_for(state="detached", timeout=30_000)
    assert page.locator("[data-testid='stException']").count() == 0
