"""The reader's prompter, the board of a 1,500-graduate ceremony, the printed sheets and rehearsals, through the
event log and the read model."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date

import pandas as pd
import pytest

from core import ceremonies, ceremony_tools, overview, people
from core.ceremony import CeremonyError
from core.demo import load_demo
from core.eventlog import Event, now_ms
from core.roster import parse_roster
from tests.core.test_ceremonies import device

CID = "grad-2026"  # the demo ceremony: 65 graduates by department


@pytest.fixture
def demo(app):
    load_demo(app, today=date(2026, 11, 22))
    return app


def test_pronunciation_comes_with_the_roster_and_reaches_the_prompter(demo):
    board = ceremonies.board(demo, CID)
    first, second = board["student_id"].iloc[0], board["student_id"].iloc[1]
    preview = parse_roster(f"รหัสนักศึกษา,ชื่อ-นามสกุล,คำอ่าน\n{first},{board['name'].iloc[0]},กิด-ติ-พัด\n"
                           f"{second},{board['name'].iloc[1]},\n".encode(), "say.csv")
    assert preview.ok and preview.rows[0].pronunciation == "กิด-ติ-พัด" and preview.rows[1].pronunciation is None
    people.commit_import(demo, preview, "op")
    assert people.get(demo, first)["pronunciation"] == "กิด-ติ-พัด"
    assert people.get(demo, first)["department"] == board["department"].iloc[0]  # columns not in the file stay

    ceremonies.act(demo, "op", CID, "ceremony.started")
    ceremonies.call_next(demo, "op", CID)
    lines = ceremony_tools.prompter(demo, CID, None, 5)
    assert [x.student_id for x in lines] == list(board["student_id"].iloc[:5])
    assert lines[0].pronunciation == "กิด-ติ-พัด" and lines[0].status == "waiting" and lines[0].new_department
    assert not lines[1].new_department  # same department: no break
    after = ceremony_tools.prompter(demo, CID, first, 3)  # read ✓: the next name is on top
    assert after[0].student_id == second and not after[0].new_department


def test_the_prompter_marks_each_department_break(demo):
    board = ceremonies.board(demo, CID).sort_values("order_no")
    change = int((board["department"] != board["department"].shift()).to_numpy().nonzero()[0][1])
    before = board["student_id"].iloc[change - 2]
    lines = ceremony_tools.prompter(demo, CID, before, 3)
    assert [x.new_department for x in lines] == [False, True, False]
    assert lines[1].department == board["department"].iloc[change]


def big_board(n: int = 1500) -> pd.DataFrame:
    depts = ["วิศวกรรมศาสตร์"] * 500 + ["นิเทศศาสตร์"] * 700 + ["Science"] * 300
    return pd.DataFrame({"order_no": range(1, n + 1), "student_id": [f"s{i}" for i in range(1, n + 1)],
                         "name": [f"นาย{i}" for i in range(1, n + 1)], "department": depts[:n],
                         "status": "pending"}).sample(frac=1, random_state=1)  # any order in: seating order out


def test_a_1500_board_follows_the_ceremony_a_screen_at_a_time():
    board = big_board()
    start = ceremony_tools.board_page(board, None)
    assert start.following and start.pages == 13 and list(start.rows["order_no"])[:2] == [1, 2]
    assert len(start.rows) == ceremony_tools.BOARD_PAGE_SIZE
    middle = ceremony_tools.board_page(board, "s800")
    numbers = list(middle.rows["order_no"])
    assert numbers[0] == 800 - ceremony_tools.FOLLOW_BEHIND and 800 in numbers and numbers == sorted(numbers)
    end = ceremony_tools.board_page(board, "s1499")
    assert list(end.rows["order_no"])[-1] == 1500 and len(end.rows) == ceremony_tools.BOARD_PAGE_SIZE
    fixed = ceremony_tools.board_page(board, "s800", page=99)  # out of range: the last page
    assert not fixed.following and fixed.page == 12 and list(fixed.rows["order_no"]) == list(range(1441, 1501))
    runs = ceremony_tools.sections(ceremony_tools.board_page(board, "s500").rows)
    assert [(dept, len(rows)) for dept, rows in runs] == [("วิศวกรรมศาสตร์", 13), ("นิเทศศาสตร์", 107)]
    assert ceremony_tools.sections(board.iloc[:0]) == []
    board.loc[board["order_no"] <= 510, "status"] = "received"
    assert ceremony_tools.department_totals(board) == {"วิศวกรรมศาสตร์": (500, 500), "นิเทศศาสตร์": (700, 10),
                                                       "Science": (300, 0)}


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils (make test installs it)")
@pytest.mark.parametrize("kind", ["lineup", "reader"])
def test_line_up_and_reader_sheets_print_every_graduate_with_department_headings(demo, kind, tmp_path):
    first = ceremonies.board(demo, CID)["student_id"].iloc[0]
    people.update(demo, "op", first, {"pronunciation": "กิด-ติ-พัด"})
    pdf = tmp_path / f"{kind}.pdf"
    pdf.write_bytes(ceremony_tools.sheet_pdf(demo, CID, kind))
    text = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    board = ceremonies.board(demo, CID)
    squashed = "".join(text.split())
    for sid in board["student_id"]:
        assert sid in text or kind == "reader"  # the reader's sheet has no ids
    for dept in board["department"].unique():
        assert "".join(dept.split()) in squashed or kind == "reader"
    assert ("อ่านว่า" in text) == (kind == "reader")
    assert "page 1 of" in text
    with pytest.raises(CeremonyError):
        ceremony_tools.sheet_pdf(demo, CID, "poster")


def test_a_rehearsal_runs_the_same_ceremony_and_leaves_the_real_one_untouched(demo):
    real_before = ceremonies.board(demo, CID)[["student_id", "order_no", "status"]]
    rid = ceremony_tools.start_rehearsal(demo, "op", CID)
    assert rid == f"rehearsal-{CID}" and ceremony_tools.rehearsal_of(rid) == CID
    rehearsal = ceremonies.board(demo, rid)
    assert list(rehearsal["student_id"]) == list(real_before["student_id"])
    assert ceremonies.info(demo, rid)["status"] == "running"

    ceremonies.call_next(demo, "op", rid)  # the console, the stage sensors and the timer all work on it
    demo.submit(device("beam.front", 1))
    demo.submit(device("beam.back", 2))
    ceremonies.call_next(demo, "op", rid)
    assert ceremonies.load(demo, rid).counts()["received"] == 1
    assert ceremonies.board(demo, CID)[["student_id", "order_no", "status"]].equals(real_before)

    # Not in statistics nor the overview; the console and board may pick it.
    assert rid not in set(ceremonies.listing(demo, rehearsals=False)["ceremony_id"])
    assert rid in set(ceremonies.listing(demo)["ceremony_id"])
    assert overview.counts(demo)["ceremonies"] == 1 and len(overview.ceremonies(demo)) == 1

    assert ceremony_tools.end_rehearsal(demo, "op", rid) == CID  # ended and reset: nothing of it is kept
    after = ceremonies.board(demo, rid)
    assert set(after["status"]) == {"pending"} and ceremonies.info(demo, rid)["status"] == "planned"
    assert ceremonies.flags(demo, rid).empty
    assert demo.db.scalar("SELECT count(*) FROM ingest_errors") == 0
    with pytest.raises(CeremonyError, match="real ceremony"):
        ceremony_tools.end_rehearsal(demo, "op", CID)
    with pytest.raises(CeremonyError, match="already a rehearsal"):
        ceremony_tools.start_rehearsal(demo, "op", rid)


def test_no_rehearsal_while_a_real_ceremony_runs_and_starting_one_ends_the_rehearsal(demo):
    rid = ceremony_tools.start_rehearsal(demo, "op", CID)
    ceremonies.call_next(demo, "op", rid)
    ceremony_tools.start(demo, "op", CID)  # the real one starts: the rehearsal ends and is reset
    assert ceremonies.info(demo, rid)["status"] == "planned"
    assert set(ceremonies.board(demo, rid)["status"]) == {"pending"}
    assert ceremonies.info(demo, CID)["status"] == "running"
    demo.submit(Event.new("ceremony.called", {"ceremony_id": CID}, actor="op"))
    demo.submit(device("beam.front", 1, ts=now_ms()))  # the beam goes to the real ceremony
    assert ceremonies.load(demo, CID).counts()["on_stage"] == 1
    with pytest.raises(CeremonyError, match="is running"):
        ceremony_tools.start_rehearsal(demo, "op", CID)
    with pytest.raises(CeremonyError, match="is running"):  # Start on the rehearsal's own console: the same rule
        ceremony_tools.start(demo, "op", rid)
    assert ceremonies.info(demo, rid)["status"] == "planned"
