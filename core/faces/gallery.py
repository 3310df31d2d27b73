"""The in-memory gallery: every template as one normalised matrix, searched with one product.

Open-set decision: a face is known only when its best person scores at least the threshold AND
beats the best *other* person by the margin; otherwise it is unknown. Operator "not this person"
marks become hard negatives: a probe that resembles a rejected probe of person P more than P's
own templates do is not matched to P.

Per-person thresholds (open-set calibration): a person whose templates score high against impostors —
another enrolled person, a face an operator marked "not this person" — attracts false accepts, so their
threshold is raised to the closest such score plus a margin; never below the global threshold, never
above a ceiling (a twin must stay recognisable; the runner-up margin keeps the pair apart). Computed
here when the gallery changes, from what it holds, so a rebuild of the read model needs nothing more.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PersonThreshold:
    """What a match to one person needs, and why."""
    student_id: str
    threshold: float
    global_threshold: float
    nearest: str | None  # the closest other enrolled person (None: nobody else enrolled)
    nearest_score: float | None
    negatives: int  # "not this person" marks against this person
    negative_score: float | None  # the closest of those marks to this person's templates

    @property
    def raised(self) -> bool:
        return self.threshold > self.global_threshold + 1e-9

    def evidence(self, label=lambda sid: sid) -> str:
        """Plain words for the person's record; `label` turns a student id into a name."""
        parts = []
        if self.nearest is not None:
            parts.append(f"closest other enrolled person {label(self.nearest)} at {self.nearest_score:.2f}")
        if self.negatives:
            parts.append(f"{self.negatives} \"not this person\" mark(s), the closest at {self.negative_score:.2f}")
        basis = "; ".join(parts) or "nobody else enrolled yet"
        if self.raised:
            return f"raised from {self.global_threshold:.2f} to {self.threshold:.2f}: {basis}"
        return f"the global {self.global_threshold:.2f}: {basis}"


@dataclass(frozen=True)
class Match:
    student_id: str | None  # None: unknown
    score: float  # best person's cosine similarity
    runner_up_gap: float  # best minus the best other person (1.0 when nobody else is enrolled)
    candidate: str | None  # the best person even when not accepted (for evidence and alerts)
    model: str
    threshold: float
    margin: float

    @property
    def known(self) -> bool:
        return self.student_id is not None


class Gallery:
    def __init__(self, model: str, threshold: float, margin: float, dim: int = 128, *,
                 person_margin: float | None = None, person_max: float = 1.0):
        """`person_margin` None: one threshold for everyone; else per-person thresholds (see the module doc)."""
        self.model, self.threshold, self.margin = model, threshold, margin
        self.person_margin, self.person_max = person_margin, max(person_max, threshold)
        self._calibration: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._lock = threading.RLock()
        self._matrix = np.zeros((0, dim), np.float32)
        self._owners = np.zeros(0, np.int32)  # person code per row (ints: comparisons stay fast at 100k rows)
        self._people: list[str] = []  # code -> student id
        self._code: dict[str, int] = {}
        self._template_ids: list[str] = []
        self._negatives: dict[str, np.ndarray] = {}  # student id -> rejected probes (k×dim)

    @classmethod
    def from_settings(cls, model: str, settings) -> Gallery:
        return cls(model, settings.match_threshold, settings.match_margin,
                   person_margin=settings.person_threshold_margin if settings.person_thresholds else None,
                   person_max=settings.person_threshold_max)

    def __len__(self) -> int:
        return len(self._template_ids)

    def people(self) -> int:
        return len(set(self._owners.tolist()))

    def _code_for(self, student_id: str) -> int:
        if student_id not in self._code:
            self._code[student_id] = len(self._people)
            self._people.append(student_id)
        return self._code[student_id]

    def add(self, template_id: str, student_id: str, vector: np.ndarray) -> None:
        vector = _unit(vector)
        with self._lock:
            if template_id in self._template_ids:
                return
            if self._matrix.shape[1] != vector.shape[0]:
                self._matrix = np.zeros((0, vector.shape[0]), np.float32)
            self._matrix = np.vstack([self._matrix, vector[None]])
            self._owners = np.append(self._owners, np.int32(self._code_for(student_id)))
            self._template_ids.append(template_id)
            self._calibration = None

    def add_many(self, rows: list[tuple[str, str, np.ndarray]]) -> None:
        if not rows:
            return
        with self._lock:
            fresh = [r for r in rows if r[0] not in set(self._template_ids)]
            if not fresh:
                return
            vectors = np.stack([_unit(v) for _, _, v in fresh])
            base = self._matrix if self._matrix.shape[1] == vectors.shape[1] else self._matrix[:0, :vectors.shape[1]]
            self._matrix = np.vstack([base, vectors]).astype(np.float32)
            codes = np.array([self._code_for(s) for _, s, _ in fresh], np.int32)
            self._owners = np.concatenate([self._owners, codes])
            self._template_ids += [t for t, _, _ in fresh]
            self._calibration = None

    def remove_person(self, student_id: str) -> None:
        with self._lock:
            keep = self._owners != self._code.get(student_id, -1)
            self._matrix, self._owners = self._matrix[keep], self._owners[keep]
            self._template_ids = [t for t, k in zip(self._template_ids, keep, strict=True) if k]
            self._negatives.pop(student_id, None)
            self._calibration = None

    def add_negative(self, student_id: str, vector: np.ndarray) -> None:
        with self._lock:
            old = self._negatives.get(student_id)
            vector = _unit(vector)[None]
            self._negatives[student_id] = vector if old is None else np.vstack([old, vector])
            self._calibration = None

    # --- per-person thresholds -------------------------------------------------------------------

    def _calibrate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per person code: threshold, nearest other person's code (-1: none), their score, closest negative.
        Called under the lock; one pass of matrix products in blocks (memory stays small at 100k rows)."""
        if self._calibration is not None:
            return self._calibration
        people, matrix, owners = len(self._people), self._matrix, self._owners
        nearest = np.full(people, -np.inf, np.float32)
        nearest_code = np.full(people, -1, np.int64)
        block = max(1, 4_000_000 // max(len(matrix), 1))
        for start in range(0, len(matrix), block):
            sims = matrix[start:start + block] @ matrix.T
            rows = owners[start:start + block]
            sims[rows[:, None] == owners[None, :]] = -np.inf  # a person is no impostor of themself
            col = np.argmax(sims, axis=1)
            best = sims[np.arange(len(rows)), col]
            order = np.argsort(best)  # ascending: for one person the highest score is written last
            rows, best, other = rows[order], best[order], owners[col[order]]
            better = best > nearest[rows]
            nearest[rows[better]] = best[better]
            nearest_code[rows[better]] = other[better]
        negative = np.full(people, -np.inf, np.float32)
        for student_id, rejected in self._negatives.items():
            code = self._code.get(student_id)
            mine = matrix[owners == code] if code is not None else matrix[:0]
            if len(mine):
                negative[code] = float(np.max(rejected @ mine.T))
        thresholds = np.full(people, self.threshold, np.float32)
        if self.person_margin is not None:
            evidence = np.maximum(nearest, negative) + self.person_margin
            thresholds = np.clip(np.maximum(thresholds, evidence), self.threshold, self.person_max)
        self._calibration = (thresholds, nearest_code, nearest, negative)
        return self._calibration

    def calibrate(self) -> None:
        """Compute the per-person thresholds now (else the first match after a change does it)."""
        with self._lock:
            self._calibrate()

    def person_threshold(self, student_id: str) -> PersonThreshold | None:
        """The threshold a match to this person needs and its evidence (None: not in the gallery)."""
        with self._lock:
            code = self._code.get(student_id)
            if code is None or not np.any(self._owners == code):
                return None
            thresholds, nearest_code, nearest, negative = self._calibrate()
            other = int(nearest_code[code])
            return PersonThreshold(
                student_id, round(float(thresholds[code]), 4), self.threshold,
                self._people[other] if other >= 0 else None,
                round(float(nearest[code]), 4) if other >= 0 else None,
                len(self._negatives.get(student_id, ())),
                round(float(negative[code]), 4) if np.isfinite(negative[code]) else None)

    def person_scores(self, probe: np.ndarray, exclude: str | None = None) -> list[tuple[str, float]]:
        """Best similarity per person, highest first."""
        with self._lock:
            if not len(self._template_ids):
                return []
            sims = self._matrix @ _unit(probe)
            owners = self._owners
        best = np.full(len(self._people), -np.inf, np.float32)
        np.maximum.at(best, owners, sims)
        ranked = [(self._people[c], float(best[c])) for c in np.argsort(-best) if np.isfinite(best[c])]
        return [(sid, score) for sid, score in ranked if sid != exclude]

    def match(self, probe: np.ndarray) -> Match:
        probe = _unit(probe)
        with self._lock:
            if not len(self._template_ids):
                return Match(None, 0.0, 0.0, None, self.model, self.threshold, self.margin)
            sims = self._matrix @ probe
            owners = self._owners
            negatives = dict(self._negatives)
            thresholds = self._calibrate()[0]
        # Top-2 people without sorting everything: the best row, then the best row of anyone else.
        first = int(np.argmax(sims))
        best_owner, best = owners[first], float(sims[first])
        rejected = negatives.get(self._people[best_owner])
        if rejected is not None and float(np.max(rejected @ probe)) >= best:
            # Closer to a face an operator said is NOT this person than to this person's own templates.
            sims = np.where(owners == best_owner, -1.0, sims)
            first = int(np.argmax(sims))
            best_owner, best = owners[first], float(sims[first])
        others = np.where(owners == best_owner, -1.0, sims)
        runner_up = float(np.max(others)) if len(others) else -1.0
        gap = best - runner_up if runner_up > -1.0 else 1.0
        threshold = round(float(thresholds[best_owner]), 4)
        accepted = best >= threshold and gap >= self.margin
        student_id = self._people[best_owner]
        return Match(student_id if accepted else None, round(best, 4), round(gap, 4), student_id,
                     self.model, threshold, self.margin)


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector
