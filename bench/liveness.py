"""How far the liveness checks stand from a photo, and how often a blink gets through (prints figures).

    .venv/bin/python -m bench.liveness

Scenes are made from real photos (tests/liveness_scenes.py): the package photos of Obama and Biden and every
fourth photo of the Johns (../shared/datasets/johns), each placed in a 640×480 frame as at a check-in camera.

1. Margins of the blink check (core/faces/eyes.py): each photo against itself turned by pitch and yaw in
   −24…24° (6° steps, perspective included): the lowest eye correlation among views the check would compare
   (nose correlation ≥ 0.90, landmarks moved ≤ 5 %), beside the eyes of the same photo painted shut.
2. Attacks, ten seconds each at 15 frames a second: a photo held up and turned in 3-D up to 40° (flicked
   back now and then), and a print of it; how many pass the head turn, the blink, either. The largest swing
   of the head-turn reading from a frontal look, single readings and the median of five the check uses.
3. Painted blinks of 1–4 closed frames (67–270 ms) with a person not quite still: how many pass.
4. Cost of the blink check per face and frame.

No blink video ships in a package, so the blinks are painted: the figures say the check tells a change of the
eyes alone from a photo's, not how often a real person's blink is caught (see the README).
"""

from __future__ import annotations

import statistics
import time

import cv2
import numpy as np

from core.checkin.liveness import BlinkChallenge, EitherChallenge, HeadTurnChallenge, LivenessRules, Sample
from core.config import PROJECT_ROOT, get_settings
from core.faces.engine import FaceEngine
from core.faces.eyes import compare, eye_view
from core.faces.quality import estimate_yaw
from tests.checkin.conftest import canvas
from tests.liveness_scenes import blinking, eyes_shut, held_and_turned, printed, turned

JOHNS = PROJECT_ROOT.parent / "shared" / "datasets" / "johns"
FRAME_MS = 66


def photos() -> list[tuple[str, np.ndarray]]:
    from tests.photos import photo_dir

    package = photo_dir()
    paths = [package / name for name in ("obama.jpg", "obama2.jpg", "biden.jpg")]
    paths += sorted(JOHNS.glob("*/*.jpg"))[::4]
    return [(path.name, canvas(cv2.imread(str(path)))) for path in paths]


def largest(engine: FaceEngine, frame: np.ndarray):
    faces = engine.detect(frame)
    return max(faces, key=lambda f: f.box[2]) if faces else None


def margins(engine: FaceEngine, scenes, rules: LivenessRules) -> None:
    photo_worst, shut_values = [], []
    for _, photo in scenes:
        face = largest(engine, photo)
        front = eye_view(photo, face.landmarks)
        if front is None:
            continue
        closed = eyes_shut(photo, face.landmarks)
        closed_face = largest(engine, closed)
        shut_values.append(compare(front, eye_view(closed, closed_face.landmarks)).eyes_changed)
        compared = []
        for pitch in range(-24, 25, 6):
            for yaw in range(-24, 25, 6):
                view = turned(photo, pitch, yaw)
                seen = largest(engine, view)
                other = None if seen is None else eye_view(view, seen.landmarks)
                if other is not None:
                    likeness = compare(front, other)
                    if likeness.control >= rules.blink_control_min and likeness.moved <= rules.blink_moved_max:
                        compared.append(likeness.eyes_changed)
        photo_worst.append(min(compared))
    caught = sum(v <= rules.blink_closed_max for v in shut_values)
    print(f"1. eyes of a turned photo correlate at least {min(photo_worst):.2f} (median of the photos' worst "
          f"{statistics.median(photo_worst):.2f}); painted shut {min(shut_values):.2f}–{max(shut_values):.2f} "
          f"(median {statistics.median(shut_values):.2f}); threshold {rules.blink_closed_max}: "
          f"{caught} of {len(shut_values)} painted closures count as closed")


def run(engine: FaceEngine, challenges, frames) -> list[float]:
    yaws = []
    for n, frame in enumerate(frames):
        face = largest(engine, frame)
        if face is None:
            continue
        sample = Sample(estimate_yaw(face.landmarks), eye_view(frame, face.landmarks))
        yaws.append(sample.yaw)
        for challenge in challenges:
            challenge.observe(sample, n * FRAME_MS)
    return [y for y in yaws if y is not None]


def swing(yaws: list[float], median_of: int, frontal_max: float) -> float:
    smooth = [statistics.median(yaws[max(0, n - median_of + 1):n + 1]) for n in range(len(yaws))]
    frontal = [y for y in smooth if abs(y) <= frontal_max]
    return max((max(abs(y - f) for y in smooth) for f in frontal), default=0.0)


def attacks(engine: FaceEngine, scenes, rules: LivenessRules, seeds: int) -> None:
    passed = {"head turn": 0, "blink": 0, "either": 0}
    raw, smoothed, runs = [], [], 0
    for index, (_, photo) in enumerate(scenes):
        for seed in range(seeds):
            for attack in (photo, printed(photo, seed)):
                challenges = (HeadTurnChallenge(rules), BlinkChallenge(rules), EitherChallenge(rules))
                yaws = run(engine, challenges, held_and_turned(attack, 150, seed=100 * index + seed, most_deg=40))
                runs += 1
                for name, challenge in zip(passed, challenges, strict=True):
                    passed[name] += challenge.passed
                raw.append(swing(yaws, 1, rules.frontal_max_deg))
                smoothed.append(swing(yaws, rules.yaw_median_of, rules.frontal_max_deg))
    print(f"2. {runs} attacks (photo and print, 10 s each, turned up to 40°): passed "
          + ", ".join(f"{name} {count}" for name, count in passed.items()))
    print(f"   head-turn reading's largest swing from a frontal look: single {max(raw):.1f}° (median "
          f"{statistics.median(raw):.1f}°), median of {rules.yaw_median_of} {max(smoothed):.1f}° (median "
          f"{statistics.median(smoothed):.1f}°); a turn needs {rules.turn_min_deg:.0f}°")


def blinks(engine: FaceEngine, scenes, rules: LivenessRules) -> None:
    results = []
    for closed_frames in (1, 2, 3, 4):
        passed = total = 0
        for index, (_, photo) in enumerate(scenes):
            face = largest(engine, photo)
            if eye_view(photo, face.landmarks) is None:
                continue
            challenge = BlinkChallenge(rules)
            run(engine, (challenge,), blinking(photo, eyes_shut(photo, face.landmarks), seed=index,
                                               closed_frames=closed_frames))
            passed += challenge.passed
            total += 1
        results.append(f"{closed_frames} frame{'s' if closed_frames > 1 else ''} {passed}/{total}")
    print("3. painted blinks passed, by closed frames: " + ", ".join(results))


def cost(engine: FaceEngine, scenes) -> None:
    photo = scenes[0][1]
    face = largest(engine, photo)
    views = [eye_view(photo, face.landmarks) for _ in range(3)]
    started = time.perf_counter()
    for _ in range(200):
        view = eye_view(photo, face.landmarks)
    per_view = (time.perf_counter() - started) / 200
    started = time.perf_counter()
    for _ in range(200):
        compare(views[0], view)
    per_compare = (time.perf_counter() - started) / 200
    # A frame compares its view with the reference (the last open look); a few more when the eyes open again.
    print(f"4. eye view {per_view * 1000:.2f} ms, one comparison {per_compare * 1000:.2f} ms "
          f"(a frame does one comparison, and one per closed look when the eyes open again)")


def main() -> None:
    engine = FaceEngine(get_settings())
    rules = LivenessRules()
    scenes = photos()
    print(f"{len(scenes)} photos")
    margins(engine, scenes, rules)
    attacks(engine, scenes[:6], rules, seeds=2)
    blinks(engine, scenes, rules)
    cost(engine, scenes)


if __name__ == "__main__":
    main()
