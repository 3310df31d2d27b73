"""Is a live person in front of the camera, or a photo held up to it?

Passive: the face crop must be sharp enough (a print or a phone screen filmed from a distance is
usually soft). It cannot stop a sharp print on its own.

Active (per session): a head turn. The yaw is read from YuNet's five landmarks (how far the nose sits
off the eye midline). A flat picture turned towards the camera keeps its nose on the same midline, so
its yaw hardly changes; a real head turned by 20° or more does. The challenge asks for a frontal look
first and then the turn, within a time limit; a failed challenge starts again.
"""

from __future__ import annotations

from dataclasses import dataclass

OFF = "off"
HEAD_TURN = "head_turn"


@dataclass(frozen=True)
class LivenessRules:
    frontal_max_deg: float = 10.0  # "looking at the camera"
    turn_min_deg: float = 20.0  # a real head turn, measured from the frontal look
    frontal_frames: int = 2  # frames of frontal look before the turn counts
    timeout_ms: int = 8000  # from the first frontal look to the turn
    min_sharpness: float = 40.0


def passive_ok(sharpness: float, rules: LivenessRules) -> bool:
    return sharpness >= rules.min_sharpness


class HeadTurnChallenge:
    """Fed one yaw reading per frame; `state` is waiting_frontal → waiting_turn → passed (or back after a timeout)."""

    def __init__(self, rules: LivenessRules | None = None):
        self.rules = rules or LivenessRules()
        self.state = "waiting_frontal"
        self._frontal_seen = 0
        self._baseline: float | None = None
        self._since_ms: int | None = None
        self.failures = 0

    @property
    def passed(self) -> bool:
        return self.state == "passed"

    def prompt(self) -> str:
        return {"waiting_frontal": "look at the camera", "waiting_turn": "turn your head",
                "passed": "live"}[self.state]

    def observe(self, yaw: float | None, now_ms: int) -> str:
        if self.passed or yaw is None:
            return self.state
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
