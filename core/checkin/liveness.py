"""Is a live person in front of the camera, or a photo held up to it?

Passive: the face crop must be sharp enough (a print or a phone screen filmed from a distance is
usually soft). It cannot stop a sharp print on its own.

Active (per session), one of:
- a head turn. The yaw is read from YuNet's five landmarks (how far the nose sits off the eye midline). A flat
  picture turned towards the camera keeps its nose on the same midline, so its yaw hardly changes; a real head
  turned by 20° or more does. The challenge asks for a frontal look first and then the turn, within a time
  limit; a failed challenge starts again. Readings are the median of the last five, so the turn is held for
  a moment: a photo turned and tilted steeply (up to 40°) swings single readings by up to 32° (landmarks err
  on a steep view), the median by up to 29° (bench/liveness.py). No such photo passed in 24 ten-second
  attacks, but the margin is thin; the blink's is wide.
- a blink: within 1.5 s both eyes close and open again while the rest of the face stays where it was
  (core/faces/eyes.py: a photo's eyes, however it is turned, look like themselves; only eyelids change them).
- either of the two, whichever the person does.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.faces.eyes import EyeView, Likeness, compare

OFF = "off"
HEAD_TURN = "head_turn"
BLINK = "blink"
EITHER = "either"


@dataclass(frozen=True)
class LivenessRules:
    frontal_max_deg: float = 10.0  # "looking at the camera"
    turn_min_deg: float = 20.0  # a real head turn, measured from the frontal look
    yaw_median_of: int = 5  # readings smoothed over this many frames
    frontal_frames: int = 2  # frames of frontal look before the turn counts
    timeout_ms: int = 8000  # from the first frontal look to the turn
    min_sharpness: float = 40.0
    # The blink (thresholds measured in bench/liveness.py; see core/faces/eyes.py).
    blink_window_ms: int = 1500  # eyes open → closed → open again within this
    blink_closed_max: float = 0.78  # closed: both eyes correlate at most this with the open ones
    blink_open_min: float = 0.85  # open again: both eyes correlate at least this with before
    blink_control_min: float = 0.90  # the brows and the nose stay the same meanwhile …
    blink_moved_max: float = 0.05  # … and the landmarks move at most this (share of the eye distance)


@dataclass(frozen=True)
class Sample:
    """What one frame shows of a face for the active checks."""
    yaw: float | None
    eyes: EyeView | None = None


class Challenge(Protocol):
    @property
    def needs_eyes(self) -> bool: ...  # its samples need an eye view (core/faces/eyes.py)

    @property
    def passed_as(self) -> str: ...  # for the record: "head turn passed", "blink passed"

    @property
    def passed(self) -> bool: ...

    def prompt(self) -> str: ...

    def observe(self, sample: Sample, now_ms: int) -> str: ...


def passive_ok(sharpness: float, rules: LivenessRules) -> bool:
    return sharpness >= rules.min_sharpness


class HeadTurnChallenge:
    """Fed one yaw reading per frame; `state` is waiting_frontal → waiting_turn → passed (or back after a timeout)."""
    needs_eyes = False
    passed_as = "head turn passed"

    def __init__(self, rules: LivenessRules | None = None):
        self.rules = rules or LivenessRules()
        self.state = "waiting_frontal"
        self._frontal_seen = 0
        self._baseline: float | None = None
        self._since_ms: int | None = None
        self._recent: deque[float] = deque(maxlen=self.rules.yaw_median_of)
        self.failures = 0

    @property
    def passed(self) -> bool:
        return self.state == "passed"

    def prompt(self) -> str:
        return {"waiting_frontal": "look at the camera", "waiting_turn": "turn your head",
                "passed": "live"}[self.state]

    def observe(self, sample: Sample, now_ms: int) -> str:
        if self.passed or sample.yaw is None:
            return self.state
        self._recent.append(sample.yaw)
        yaw = float(np.median(self._recent))
        r = self.rules
        if self.state == "waiting_turn" and now_ms - (self._since_ms or now_ms) > r.timeout_ms:
            self.failures += 1
            self.state, self._frontal_seen, self._baseline = "waiting_frontal", 0, None
        if self.state == "waiting_frontal":
            if abs(yaw) <= r.frontal_max_deg:
                self._frontal_seen += 1
                self._baseline = yaw if self._baseline is None else (self._baseline + yaw) / 2
                if self._frontal_seen >= r.frontal_frames:
                    self.state, self._since_ms = "waiting_turn", now_ms
            else:
                self._frontal_seen, self._baseline = 0, None
        elif abs(yaw - (self._baseline or 0.0)) >= r.turn_min_deg:
            self.state = "passed"
        return self.state


class BlinkChallenge:
    """Fed one eye view per frame. The last open look is the reference (a); a look with both eyes changed against
    it (c) is kept as a candidate; a later look like a again (t) passes if some candidate is changed against t too,
    within the window, brows, nose and landmarks still throughout. One comparison a frame (against a), a few more
    when the eyes open again: a face that never blinks costs one comparison, not one per frame of the window."""
    needs_eyes = True
    passed_as = "blink passed"

    def __init__(self, rules: LivenessRules | None = None):
        self.rules = rules or LivenessRules()
        self.state = "waiting_blink"
        self._too_small = False
        self._open: tuple[int, EyeView] | None = None  # the reference: the last open, steady look
        self._closed: list[EyeView] = []  # looks with both eyes changed against the reference, since it was taken
        self._unsteady = 0  # looks in a row that moved against the reference

    @property
    def passed(self) -> bool:
        return self.state == "passed"

    def prompt(self) -> str:
        if self.passed:
            return "live"
        return "come closer, then blink" if self._too_small else "blink slowly"

    def _still(self, likeness: Likeness) -> bool:
        return likeness.control >= self.rules.blink_control_min and likeness.moved <= self.rules.blink_moved_max

    def _closed_against(self, likeness: Likeness) -> bool:
        return self._still(likeness) and likeness.eyes_changed <= self.rules.blink_closed_max

    def observe(self, sample: Sample, now_ms: int) -> str:
        if self.passed:
            return self.state
        if sample.eyes is None:  # landmarks (a yaw) but no view: the face is too small for its eyelids
            self._too_small = sample.yaw is not None
            return self.state
        self._too_small = False
        view = sample.eyes
        if self._open is None or now_ms - self._open[0] > self.rules.blink_window_ms:
            self._open, self._closed, self._unsteady = (now_ms, view), [], 0  # a fresh reference: nothing older counts
            return self.state
        likeness = compare(self._open[1], view)
        if self._closed_against(likeness):
            self._closed.append(view)
        elif self._still(likeness) and likeness.eyes_alike >= self.rules.blink_open_min:
            if any(self._closed_against(compare(view, closed)) for closed in self._closed):
                self.state = "passed"
                self._open, self._closed = None, []
                return self.state
            self._open, self._closed = (now_ms, view), []  # open (again): the reference follows the face
        elif not self._still(likeness) and not self._closed:
            self._unsteady += 1
            if self._unsteady >= 2:  # moved for two looks in a row (not one noisy frame): start from here
                self._open = (now_ms, view)
        # Anything else (half-closed eyes, a shake during a blink) is skipped.
        if self._still(likeness):
            self._unsteady = 0
        return self.state


class EitherChallenge:
    """A head turn or a blink, whichever the person does first."""
    needs_eyes = True

    def __init__(self, rules: LivenessRules | None = None):
        self.parts: tuple[Challenge, ...] = (HeadTurnChallenge(rules), BlinkChallenge(rules))

    @property
    def passed(self) -> bool:
        return any(part.passed for part in self.parts)

    @property
    def passed_as(self) -> str:
        return next((part.passed_as for part in self.parts if part.passed), "")

    @property
    def state(self) -> str:
        return "passed" if self.passed else "waiting"

    def prompt(self) -> str:
        return "live" if self.passed else "blink or turn your head"

    def observe(self, sample: Sample, now_ms: int) -> str:
        for part in self.parts:
            if not self.passed:
                part.observe(sample, now_ms)
        return self.state


def instruction(kind: str | None) -> str:
    """What a kiosk tells the person in front of it, by the session's check (as `challenge_for` reads it)."""
    if kind in (None, OFF):
        return "Look at the camera"
    words = {BLINK: "Look at the camera and blink slowly", EITHER: "Look at the camera, then blink or turn your head"}
    return words.get(kind, "Look at the camera, then turn your head")


def challenge_for(kind: str | None, rules: LivenessRules | None = None) -> Challenge | None:
    """The active check a session asks for; None when it is off. A value this version does not know (a newer
    box's) gets the head turn: never weaker than some check."""
    if kind in (None, OFF):
        return None
    if kind == BLINK:
        return BlinkChallenge(rules)
    if kind == EITHER:
        return EitherChallenge(rules)
    return HeadTurnChallenge(rules)
