"""Pure rules of live check-in: tracking, k-of-n voting, the head-turn challenge, the session's time gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.checkin.liveness import HeadTurnChallenge, LivenessRules, Sample, challenge_for, instruction
from core.checkin.tracking import UNKNOWN, Tracker, Votes, iou
from core.session_rules import session_gate


def test_iou_of_boxes():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_tracks_follow_moving_faces_and_expire():
    tracker = Tracker(max_age_ms=500)
    a, b = tracker.update([(100, 100, 80, 80), (400, 100, 80, 80)], 0)
    assert a.track_id != b.track_id
    # Both move a little, and arrive in the other order: each keeps its track.
    b2, a2 = tracker.update([(410, 105, 80, 80), (108, 96, 80, 80)], 40)
    assert (a2.track_id, b2.track_id) == (a.track_id, b.track_id)
    assert a2.hits == 2
    # A face far from every track starts a new one.
    (c,) = tracker.update([(250, 300, 60, 60)], 80)
    assert c.track_id not in (a.track_id, b.track_id)
    # Unseen for longer than max_age: gone; a face there later is a new person to the tracker.
    tracker.update([(250, 300, 60, 60)], 700)
    assert set(tracker.tracks) == {c.track_id}
    (again,) = tracker.update([(108, 96, 80, 80)], 720)
    assert again.track_id not in (a.track_id, b.track_id)


def test_votes_need_k_of_the_last_n():
    votes = Votes(k=3, n=5)
    for label in ("A", None, "A", "B"):
        votes.add(label)
        assert votes.decision() is None
    votes.add("A")
    assert votes.decision() == "A"
    # Old votes fall out of the window.
    for label in ("B", "B", "C"):
        votes.add(label)
    assert votes.decision() == "B"  # the last five are B, A, B, B, C
    votes.add("C")
    assert votes.decision() is None  # A, B, B, C, C
    votes.clear()
    for _ in range(3):
        votes.add(None)
    assert votes.decision() == UNKNOWN
    with pytest.raises(ValueError):
        Votes(k=4, n=3)


def _run(challenge: HeadTurnChallenge, yaws: list[float | None], step_ms: int = 100) -> str:
    state = ""
    for n, yaw in enumerate(yaws):
        state = challenge.observe(Sample(yaw), n * step_ms)
    return state


def test_head_turn_passes_after_a_frontal_look_then_a_turn():
    assert _run(HeadTurnChallenge(), [2, 1, 3, 12, 18, 26, 27, 25]) == "passed"
    assert _run(HeadTurnChallenge(), [-3, 0, -8, -15, -24, -26, -25]) == "passed"  # either side


def test_a_turn_must_be_held_for_a_moment():
    # A single reading far off is how a photo's landmarks err on a steep view: the median of five ignores it.
    assert _run(HeadTurnChallenge(), [2, 1, 3, 2, 30, 2, 3, 28, 1]) == "waiting_turn"


def test_a_still_photo_never_passes():
    # A photo held up and tilted: the landmarks' yaw barely moves (measured noise is a few degrees).
    challenge = HeadTurnChallenge()
    assert _run(challenge, [3, 4, 2, 5, 6, 4, 3, 7, 5, 4] * 10) == "waiting_turn"
    assert not challenge.passed
    # A photo of a turned head is never frontal first.
    assert _run(HeadTurnChallenge(), [28, 29, 30, 27] * 5) == "waiting_frontal"


def test_a_turn_too_late_starts_the_challenge_again():
    rules = LivenessRules(timeout_ms=1000)
    challenge = HeadTurnChallenge(rules)
    _run(challenge, [0, 0] + [2] * 20)  # frontal, then 2 s without turning
    assert challenge.failures >= 1 and challenge.state != "passed"
    for n, yaw in enumerate([0, 1, 25, 26, 27, 25]):
        challenge.observe(Sample(yaw), 10_000 + n * 100)
    assert challenge.passed


def test_each_session_check_gets_its_challenge_and_its_kiosk_words():
    assert challenge_for("off") is None and challenge_for(None) is None
    assert instruction("off") == "Look at the camera"
    for kind, passed_as, words in (("head_turn", "head turn passed", "turn your head"),
                                   ("blink", "blink passed", "blink slowly"),
                                   ("either", "", "blink or turn your head")):
        assert challenge_for(kind).passed_as == passed_as and words in instruction(kind)
    # A value this version does not know (written by a newer box) is never weaker than the head turn.
    assert isinstance(challenge_for("nod"), HeadTurnChallenge) and "turn your head" in instruction("nod")


def test_missing_landmarks_change_nothing():
    challenge = HeadTurnChallenge()
    assert _run(challenge, [None, None, 0, None, 1, None, 30, 31, None, 29]) == "passed"


def _session(**changes) -> dict:
    start = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    return {"starts_at": start, "ends_at": start + timedelta(hours=3), "late_after_min": 10, "status": "active",
            "ended_at": None, **changes}


def test_session_gate_time_window_and_late_rule():
    s = _session()
    start = s["starts_at"]
    assert session_gate(s, start - timedelta(seconds=1))[0] is None
    assert "opens at" in session_gate(s, start - timedelta(seconds=1))[1]
    assert session_gate(s, start) == ("present", "")
    assert session_gate(s, start + timedelta(minutes=10)) == ("present", "")
    assert session_gate(s, start + timedelta(minutes=10, seconds=1)) == ("late", "")
    assert session_gate(s, start + timedelta(hours=3, seconds=1))[0] is None


def test_session_gate_end_attendance_and_start():
    s = _session(status="ended", ended_at=_session()["starts_at"] + timedelta(minutes=30))
    assert session_gate(s, s["starts_at"] + timedelta(minutes=5)) == (None, "attendance has ended")
    scheduled = _session(status="scheduled")
    at = scheduled["starts_at"] + timedelta(minutes=1)
    assert session_gate(scheduled, at) == ("present", "")  # devices: the window alone
    assert session_gate(scheduled, at, must_be_started=True) == (None, "the session has not been started")
