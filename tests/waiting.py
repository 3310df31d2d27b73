"""Waiting for a state, never for a duration: a test passes on a busy machine as on a quiet one."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], what: str, tries: int = 600) -> None:
    """Poll every 0.1 s until `predicate()` is true; up to ~60 s on a very busy machine, then fail naming `what`."""
    for _ in range(tries):
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")
