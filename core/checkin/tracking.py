"""Faces followed across frames, and the vote that turns a track's recognitions into one identity.

Recognition is the expensive step (≈ 20 ms a face on 2 cores); detection is cheap. So every frame is
detected, detections are linked to tracks by overlap, and a track is recognised only while it is
undecided (and re-checked now and then). A track is decided only when k of its last n recognitions
agree, so one lucky frame neither checks a person in nor raises an alert.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

Box = tuple[int, int, int, int]  # x, y, w, h

UNKNOWN = "unknown"  # a decided track that is nobody enrolled


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / float(aw * ah + bw * bh - inter)


class Votes:
    """k-of-n agreement over the last n recognitions; None is an 'unknown' vote."""

    def __init__(self, k: int, n: int):
        if not 1 <= k <= n:
            raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
        self.k, self.n = k, n
        self._recent: deque[str | None] = deque(maxlen=n)

    def add(self, label: str | None) -> None:
        self._recent.append(label)

    def clear(self) -> None:
        self._recent.clear()

    def __len__(self) -> int:
        return len(self._recent)

    def decision(self) -> str | None:
        """The student id, UNKNOWN, or None while undecided."""
        if not self._recent:
            return None
        label, count = Counter(self._recent).most_common(1)[0]
        if count < self.k:
            return None
        return UNKNOWN if label is None else label


@dataclass
class Track:
    track_id: int
    box: Box
    first_seen_ms: int
    last_seen_ms: int
    votes: Votes
    hits: int = 1
    identity: str | None = None  # decided: a student id or UNKNOWN
    score: float | None = None  # best similarity of the last recognition
    runner_up_gap: float | None = None
    last_recognised_ms: int | None = None
    recognitions: int = 0
    # The gap before this frame: how long, and in how many processed frames, the face was not found. After a long
    # gap it may be someone else; a slow box alone (few frames, each found) is no gap.
    gap_ms: int = 0
    gap_frames: int = 0
    misses: int = 0  # frames since the face was last found
    state: dict = field(default_factory=dict)  # what the check-in layer keeps per track (liveness, recorded…)


class Tracker:
    """Greedy IoU linking: each detection joins the track it overlaps most (at least `min_iou`)."""

    def __init__(self, *, k: int = 3, n: int = 5, min_iou: float = 0.3, max_age_ms: int = 1000):
        self.k, self.n, self.min_iou, self.max_age_ms = k, n, min_iou, max_age_ms
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, boxes: list[Box], now_ms: int) -> list[Track]:
        """Link this frame's detections to tracks; returns the track of each box, in the same order."""
        pairs = sorted(((iou(box, t.box), i, t.track_id) for i, box in enumerate(boxes) for t in self.tracks.values()),
                       reverse=True)
        assigned: dict[int, Track] = {}
        used: set[int] = set()
        for overlap, i, track_id in pairs:
            if overlap < self.min_iou:
                break
            if i in assigned or track_id in used:
                continue
            track = self.tracks[track_id]
            track.gap_ms, track.gap_frames, track.misses = now_ms - track.last_seen_ms, track.misses, 0
            track.box, track.last_seen_ms, track.hits = boxes[i], now_ms, track.hits + 1
            assigned[i] = track
            used.add(track_id)
        for i, box in enumerate(boxes):
            if i not in assigned:
                track = Track(self._next_id, box, now_ms, now_ms, Votes(self.k, self.n))
                self._next_id += 1
                self.tracks[track.track_id] = track
                assigned[i] = track
        found = {t.track_id for t in assigned.values()}
        for track in self.tracks.values():
            if track.track_id not in found:
                track.misses += 1
        for track_id in [t.track_id for t in self.tracks.values() if now_ms - t.last_seen_ms > self.max_age_ms]:
            del self.tracks[track_id]
        return [assigned[i] for i in range(len(boxes))]

    def visible(self, now_ms: int) -> list[Track]:
        return [t for t in self.tracks.values() if t.last_seen_ms == now_ms]
