"""The ceremony state machine as pure functions: every transition, FIFO beams, timeouts, overrides."""

from __future__ import annotations

import pytest

from core import ceremony
from core.ceremony import Ceremony, Entry, apply, due_timeouts, pace

MIN = 60_000


def make(n: int = 5, timeout_min: float = 5, running: bool = True) -> Ceremony:
    entries = {f"s{i}": Entry(f"s{i}", i, queue_pos=float(i)) for i in range(1, n + 1)}
    c = Ceremony("c1", int(timeout_min * MIN), entries)
    if running:
        apply(c, "ceremony.started", {}, 0)
    return c


def status(c: Ceremony) -> dict[str, str]:
    return {sid: e.status for sid, e in c.entries.items()}


def test_the_happy_path_pending_waiting_on_stage_received():
    c = make(2)
    apply(c, "ceremony.called", {}, 1000)
    assert c.entries["s1"].status == "waiting" and c.entries["s1"].called_at_ms == 1000
    apply(c, "beam.front", {}, 5000)
    assert c.entries["s1"].status == "on_stage" and c.entries["s1"].on_stage_at_ms == 5000
    apply(c, "beam.back", {}, 9000)
    assert c.entries["s1"].status == "received" and c.entries["s1"].received_at_ms == 9000
    assert status(c) == {"s1": "received", "s2": "pending"} and c.flags == []


def test_beams_follow_the_line_of_calls():
    c = make(4)
    for t in (1, 2, 3):
        apply(c, "ceremony.called", {}, t)
    apply(c, "beam.front", {}, 10)
    apply(c, "beam.front", {}, 11)
    assert [e.student_id for e in c.line("on_stage")] == ["s1", "s2"]
    assert [e.student_id for e in c.line("waiting")] == ["s3"]
    apply(c, "beam.back", {}, 12)
    assert c.entries["s1"].status == "received" and c.entries["s2"].status == "on_stage"


def test_a_beam_with_nobody_waiting_is_flagged_not_fatal():
    c = make(1)
    apply(c, "beam.front", {}, 10)
    apply(c, "beam.back", {}, 11)
    assert [f.kind for f in c.flags] == ["beam_unmatched", "beam_unmatched"]
    assert status(c) == {"s1": "pending"}


def test_timeouts_make_a_waiting_graduate_absent_once():
    c = make(2, timeout_min=5)
    apply(c, "ceremony.called", {}, 0)
    assert due_timeouts(c, 5 * MIN - 1) == []
    [due] = due_timeouts(c, 5 * MIN)
    apply(c, "ceremony.absent_timeout", {"student_id": due.student_id, "called_at_ms": due.called_at_ms}, 5 * MIN)
    assert c.entries["s1"].status == "absent"
    assert due_timeouts(c, 10 * MIN) == []


def test_a_stale_timeout_does_not_hit_a_recall():
    c = make(1)
    apply(c, "ceremony.called", {}, 0)
    apply(c, "ceremony.requeued", {"student_id": "s1"}, 1000)
    apply(c, "ceremony.called", {}, 2000)  # called again: the clock restarts
    apply(c, "ceremony.absent_timeout", {"student_id": "s1", "called_at_ms": 0}, 5 * MIN)
    assert c.entries["s1"].status == "waiting"


def test_no_timeouts_unless_running():
    c = make(1)
    apply(c, "ceremony.called", {}, 0)
    apply(c, "ceremony.ended", {}, 1)
    assert due_timeouts(c, 60 * MIN) == []


def test_undo_skip_and_requeue():
    c = make(3)
    apply(c, "ceremony.called", {}, 1)
    apply(c, "ceremony.call_undone", {"student_id": "s1"}, 2)
    assert c.entries["s1"].status == "pending" and c.queue()[0].student_id == "s1"
    apply(c, "ceremony.skipped", {"student_id": "s1"}, 3)
    apply(c, "ceremony.called", {}, 4)
    assert c.entries["s2"].status == "waiting"
    apply(c, "ceremony.requeued", {"student_id": "s1"}, 5)  # a late arrival is called next
    apply(c, "ceremony.called", {}, 6)
    assert c.entries["s1"].status == "waiting" and c.entries["s3"].status == "pending"
    apply(c, "ceremony.call_undone", {"student_id": "s3"}, 7)
    assert c.flags[-1].kind == "undo_ignored"


def test_overrides_set_any_status():
    c = make(2)
    apply(c, "ceremony.status_set", {"student_id": "s2", "status": "received", "reason": "fast"}, 10)
    assert c.entries["s2"].status == "received" and c.entries["s2"].received_at_ms == 10
    apply(c, "ceremony.status_set", {"student_id": "s2", "status": "pending", "reason": "oops"}, 11)
    assert c.entries["s2"].status == "pending" and c.entries["s2"].received_at_ms is None
    apply(c, "ceremony.status_set", {"student_id": "s2", "status": "flying"}, 12)
    apply(c, "ceremony.status_set", {"student_id": "nobody", "status": "absent"}, 13)
    assert [f.kind for f in c.flags] == ["bad_status", "unknown_graduate"]


def test_rfid_or_face_names_the_person_even_out_of_order():
    c = make(3)
    apply(c, "ceremony.called", {}, 1)
    apply(c, "stage.identified", {"student_id": "s3", "method": "rfid"}, 2)
    assert c.entries["s3"].status == "on_stage" and c.flags[-1].kind == "not_called"
    apply(c, "beam.back", {}, 3)
    assert c.entries["s3"].status == "received"  # the earliest on stage
    apply(c, "stage.identified", {"student_id": "s3", "method": "face"}, 4)  # duplicate: no change
    assert c.entries["s3"].status == "received"


def test_calling_an_already_called_person_and_an_empty_queue():
    c = make(1)
    apply(c, "ceremony.called", {"student_id": "s1"}, 1)
    apply(c, "ceremony.called", {"student_id": "s1"}, 2)
    apply(c, "ceremony.called", {}, 3)
    assert [f.kind for f in c.flags] == ["already_called", "queue_empty"]
    assert c.entries["s1"].called_at_ms == 1


def test_auto_advance_calls_the_next_when_one_is_received():
    c = make(3)
    apply(c, "ceremony.settings", {"auto_advance": True}, 0)
    apply(c, "ceremony.called", {}, 1)
    apply(c, "beam.front", {}, 2)
    apply(c, "beam.back", {}, 3)
    assert c.entries["s2"].status == "waiting" and c.entries["s2"].called_at_ms == 3


def test_out_of_order_back_before_front():
    c = make(2)
    apply(c, "ceremony.called", {}, 1)
    apply(c, "beam.back", {}, 2)  # arrives first (e.g. a device clock or retry order)
    apply(c, "beam.front", {}, 3)
    assert c.entries["s1"].status == "on_stage" and c.flags[0].detail == "back beam with nobody on stage"


def test_pace_gives_etas_and_an_expected_end():
    c = make(5)
    for n, t in enumerate((0, 30, 60), 1):
        apply(c, "ceremony.called", {}, t * 1000)
        apply(c, "beam.front", {}, t * 1000 + 5000)
        apply(c, "beam.back", {}, t * 1000 + 10_000)
        assert c.entries[f"s{n}"].status == "received"
    apply(c, "ceremony.called", {}, 90_000)
    p = pace(c, 100_000)
    assert p.seconds_per_graduate == pytest.approx(30)
    assert p.eta_ms == {"s4": 100_000, "s5": 130_000}
    assert p.expected_end_ms == 160_000
    assert pace(make(2), 0).eta_ms == {}


def test_counts_and_current():
    c = make(3)
    assert c.current() is None
    apply(c, "ceremony.called", {}, 1)
    apply(c, "ceremony.called", {}, 2)
    assert c.current().student_id == "s1"
    apply(c, "beam.front", {}, 3)
    assert c.current().student_id == "s1" and c.counts()["waiting"] == 1
    assert ceremony.snapshot(c).entries["s1"] is not c.entries["s1"]


def test_the_absent_timer_starts_when_a_graduate_reaches_the_front_of_the_line():
    """A batch called at once: only the first in line is timed; the next starts its clock when the line moves."""
    c = make(3, timeout_min=5)
    for t in (0, 1, 2):
        apply(c, "ceremony.called", {}, t)
    assert [e.student_id for e in due_timeouts(c, 5 * MIN)] == ["s1"]  # s2, s3 are still behind s1
    apply(c, "beam.front", {}, 4 * MIN)  # s1 reaches the stage: s2 is first from now
    assert due_timeouts(c, 5 * MIN) == []
    assert due_timeouts(c, 9 * MIN - 1) == []
    [due] = due_timeouts(c, 9 * MIN)
    assert due.student_id == "s2"
    apply(c, "ceremony.absent_timeout", {"student_id": "s2", "called_at_ms": due.called_at_ms}, 9 * MIN)
    assert c.entries["s2"].status == "absent" and c.entries["s3"].front_at_ms == 9 * MIN
    assert due_timeouts(c, 14 * MIN - 1) == [] and [e.student_id for e in due_timeouts(c, 14 * MIN)] == ["s3"]


def test_up_next_is_the_rest_of_the_line_then_the_queue():
    """Issue #13: with #4 on stage and #5–#11 called and waiting, next is #5 · #6 (the queue said #12 · #13)."""
    c = make(15)
    for t in range(1, 12):
        apply(c, "ceremony.called", {}, t)
    for t in range(20, 26, 2):  # #1–#3 received
        apply(c, "beam.front", {}, t)
        apply(c, "beam.back", {}, t + 1)
    apply(c, "beam.front", {}, 30)
    assert c.current().order_no == 4 and c.current().status == "on_stage"
    assert [e.order_no for e in c.up_next(2)] == [5, 6]
    assert [e.order_no for e in c.up_next(9)] == [5, 6, 7, 8, 9, 10, 11, 12, 13]
    apply(c, "beam.back", {}, 31)  # #4 received: the room looks at #5, the first waiting
    assert c.current().order_no == 5 and [e.order_no for e in c.up_next(2)] == [6, 7]
    # The line in call order, not roster order: a graduate re-called later waits behind the others.
    apply(c, "ceremony.status_set", {"student_id": "s6", "status": "waiting", "reason": "called again"}, 40)
    assert [e.order_no for e in c.up_next(3)] == [7, 8, 9]
    # Nobody in the line: the queue; nobody left at all: nobody.
    d = make(3)
    apply(d, "ceremony.called", {}, 1)
    apply(d, "beam.front", {}, 2)
    apply(d, "beam.back", {}, 3)
    assert d.current().order_no == 1 and [e.order_no for e in d.up_next(2)] == [2, 3]
    assert make(0).up_next(2) == [] and c.up_next(0) == []


def test_the_prompter_reads_on_from_the_last_name_ticked():
    c = make(8)
    apply(c, "ceremony.called", {}, 1)
    apply(c, "ceremony.called", {}, 2)
    apply(c, "beam.front", {}, 3)  # s1 on stage, s2 waiting, s3.. pending
    assert [e.student_id for e in c.to_read(None, 4)] == ["s1", "s2", "s3", "s4"]
    assert [e.student_id for e in c.to_read("s1", 3)] == ["s2", "s3", "s4"]
    assert [e.student_id for e in c.to_read("s3", 2)] == ["s4", "s5"]  # the reader may read ahead of the calls
    apply(c, "beam.back", {}, 4)  # s1 received: gone from the line, the place is still kept by s3
    assert [e.student_id for e in c.to_read("s3", 1)] == ["s4"]
    assert [e.student_id for e in c.to_read("s1", 2)] == ["s2", "s3"]  # the last name read has left: the head
    assert c.to_read("s8", 3) == [] and c.to_read("s2", 0) == []


def test_the_prompter_goes_back_one_name_at_a_time():
    c = make(4)
    apply(c, "ceremony.called", {}, 1)
    assert c.read_before("s3") == "s2" and c.read_before("s2") == "s1" and c.read_before("s1") is None
    assert c.read_before(None) is None and c.read_before("gone") is None
