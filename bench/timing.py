"""What every benchmark measures with: percentiles of a list, and the time a call takes."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nan for no values: a run that measured nothing prints nan, not a crash)."""
    return float(np.percentile(values, q)) if values else float("nan")


def timed(fn: Callable[[], object], runs: int, warmup: int = 3) -> tuple[float, float]:
    """Median and p95 of `runs` calls, in milliseconds, after `warmup` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return pct(samples, 50), pct(samples, 95)
