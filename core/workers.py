"""A background thread that calls `tick()` every few tenths of a second until stopped."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class Poller:
    """Base for the app's followers of the event log (ingestor, frame worker, ceremony clock).

    A failing tick is logged and retried on the next one: a follower must never die quietly.
    """

    name = "rollcall-worker"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> int:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def start(self, poll_seconds: float) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(poll_seconds):
                try:
                    self.tick()
                except Exception:
                    log.exception("%s failed; retrying", self.name)

        self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
