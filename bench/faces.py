"""Face pipeline speed on this machine (prints figures; not a pass/fail test).

    .venv/bin/python -m bench.faces [--runs 30]

Detection, embedding and end-to-end latency on a 640×480 frame (obama.jpg letterboxed), the process
RSS, gallery search at 1k / 10k / 100k templates against a faiss.IndexFlatIP baseline in the same
run, and whether OpenCV / onnxruntime thread counts change the picture.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import faiss
import numpy as np
import onnxruntime as ort

from bench.timing import timed
from core.config import get_settings
from core.faces.engine import FaceEngine
from core.faces.gallery import Gallery
from tests.photos import photo_dir

FAISS_THREADS = faiss.omp_get_max_threads()
GOAL_E2E_MS = 40.0
GOAL_SEARCH_MS = 5.0
DIM = 128


def letterbox(image: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """Scale to fit, keep the aspect ratio, pad with black."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = round(w * scale), round(h * scale)
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - new_w) // 2, (height - new_h) // 2
    out[y:y + new_h, x:x + new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return out


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def random_gallery(n: int, rng: np.random.Generator, threshold: float, margin: float) -> tuple[Gallery, np.ndarray]:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    gallery = Gallery("SFace", threshold, margin, dim=DIM)
    gallery.add_many([(f"t{i}", f"p{i // 3}", vectors[i]) for i in range(n)])
    return gallery, vectors


def row(label: str, p50: float, p95: float, extra: str = "") -> None:
    print(f"  {label:<52} {p50:8.2f} {p95:8.2f}  {extra}")


def cell(times: tuple[float, float]) -> str:
    return f"{times[0]:7.3f} /{times[1]:6.3f}"


def ort_session(path: str, threads: int = 0, spinning: bool = True) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads  # 0: onnxruntime's default (one per core)
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def pipeline(engine: FaceEngine, frame: np.ndarray, runs: int) -> tuple[float, float]:
    """End to end per face on the 640×480 frame: detect + align + embed + match against 1k templates."""
    gallery, _ = random_gallery(1000, np.random.default_rng(1), engine.settings.match_threshold,
                                engine.settings.match_margin)
    faces = engine.detect(frame)

    def once() -> None:
        for face in engine.analyze(frame):
            gallery.match(face.embedding)

    p50, p95 = timed(once, runs)
    return p50 / len(faces), p95 / len(faces)


def numpy_blas_threads(n: int) -> int | None:
    """Set numpy's OpenBLAS thread count (scipy-openblas wheels); returns the old one, None if not found."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    lib = next((line.split()[-1] for line in maps if "scipy_openblas" in line), None)
    if lib is None:
        return None
    blas = ctypes.CDLL(lib)
    old = blas.scipy_openblas_get_num_threads64_()
    blas.scipy_openblas_set_num_threads64_(ctypes.c_int(n))
    return old


def search(fn: Callable[[np.ndarray], object], probes: np.ndarray, runs: int) -> tuple[float, float]:
    it = iter(np.tile(probes, (runs // len(probes) + 2, 1)))
    time.sleep(0.5)  # let the other library's spinning worker threads go to sleep first
    return timed(lambda: fn(next(it)), runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    settings = get_settings()
    rng = np.random.default_rng(0)
    rss_before = rss_mb()
    engine = FaceEngine(settings)
    rss_loaded = rss_mb()
    original = cv2.imread(str(photo_dir() / "obama.jpg"))
    frame = letterbox(original)
    faces = engine.detect(frame)
    if not faces:
        raise SystemExit("no face found in the 640×480 frame")

    print(f"Face pipeline: detector={settings.face_detector} model={settings.face_model}; "
          f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.2f} at start "
          f"(other busy processes inflate every figure)")
    print(f"Frame: obama.jpg {original.shape[1]}×{original.shape[0]} letterboxed to 640×480, {len(faces)} face "
          f"({faces[0].box[2]}×{faces[0].box[3]} px); median and p95 of {runs} runs after warm-up\n")
    print(f"  {'':<52} {'p50 ms':>8} {'p95 ms':>8}")
    row("detection + alignment (per frame)", *timed(lambda: engine.detect(frame), runs))
    row("embedding (per face)", *timed(lambda: engine.embed(faces[:1]), runs))
    e2e = pipeline(engine, frame, runs)
    row("end to end, 1k-template gallery (per face)", *e2e)
    print(f"\n  Goal ≤ {GOAL_E2E_MS:.0f} ms median end to end on 2 cores: "
          f"{'met' if e2e[0] <= GOAL_E2E_MS else 'NOT met'} ({e2e[0]:.1f} ms)")
    print(f"  RSS (VmRSS): {rss_before:.0f} MB before loading, {rss_loaded:.0f} MB after loading the models, "
          f"{rss_mb():.0f} MB after the runs")

    print("\nThread settings, end to end per face (YuNet runs on OpenCV, SFace on onnxruntime;"
          " the session is swapped in this process only):")
    model, default_cv2 = engine._model.model, cv2.getNumThreads()
    path = model._model_path
    variants = {"as shipped (ORT default threads, spinning on)": (model, default_cv2),
                "ORT allow_spinning=0": (ort_session(path, spinning=False), default_cv2),
                "ORT intra_op_num_threads=1": (ort_session(path, threads=1), default_cv2),
                "cv2.setNumThreads(1)": (model, 1),
                "ORT allow_spinning=0 + cv2.setNumThreads(1)": (ort_session(path, spinning=False), 1)}
    for label, (session, cv2_threads) in variants.items():
        engine._model.model = session
        cv2.setNumThreads(cv2_threads)
        row(label, *pipeline(engine, frame, runs))
    engine._model.model = model
    cv2.setNumThreads(default_cv2)

    print("\nGallery search, one probe at a time (random unit vectors, 3 templates per person), p50 / p95 ms:")
    print(f"  {'templates':>10} {'Gallery.match':>15} {'… BLAS 1 thread':>15} {'faiss 1 thread':>15} "
          f"{'faiss default':>15} {'ratio':>6}")
    n_runs = max(runs, 200)
    for n in (1_000, 10_000, 100_000):
        gallery, vectors = random_gallery(n, rng, settings.match_threshold, settings.match_margin)
        index = faiss.IndexFlatIP(DIM)
        index.add(vectors)
        probes = vectors[rng.integers(0, n, 200)] + 0.5 * rng.standard_normal((200, DIM)).astype(np.float32) / DIM**0.5
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        ours = search(gallery.match, probes, n_runs)
        blas_threads = numpy_blas_threads(1)
        ours_single = search(gallery.match, probes, n_runs) if blas_threads else (float("nan"),) * 2
        if blas_threads:
            numpy_blas_threads(blas_threads)
        faiss.omp_set_num_threads(1)
        single = search(lambda p, i=index: i.search(p[None], 2), probes, n_runs)
        faiss.omp_set_num_threads(FAISS_THREADS)
        multi = search(lambda p, i=index: i.search(p[None], 2), probes, n_runs)
        print(f"  {n:>10,} {cell(ours)} {cell(ours_single)} {cell(single)} {cell(multi)} "
              f"{min(ours[0], ours_single[0]) / min(single[0], multi[0]):5.1f}×")
    best = min(ours[0], ours_single[0])  # the last size: 100k
    print(f"  ratio: the faster Gallery p50 / the faster faiss p50. Goal ≤ {GOAL_SEARCH_MS:.0f} ms at 100k: "
          f"{'met' if best <= GOAL_SEARCH_MS else 'NOT met'} (Gallery.match {ours[0]:.2f} ms, with numpy's BLAS "
          f"on 1 thread {ours_single[0]:.2f} ms).\n  faiss returns the top-2 rows; Gallery.match also finds the best"
          " *other person* (its margin test). Multi-threaded BLAS on 2 shared vCPUs can flip between runs.")

if __name__ == "__main__":
    main()
