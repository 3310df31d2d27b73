"""The process-wide handles: settings, event log, read model, ingestor.

A Rollcall is the store; core/runtime.py opens one with the face service and starts the workers (the one start-up
of the app, the CLI, the benchmarks and the tests). This module imports nothing above the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from core.config import Settings, get_settings
from core.db import Database
from core.eventlog import AppendResult, Event, EventLog, open_event_log
from core.eventlog.outbox import STORE_DOWN, Outbox, OutboxDrainer
from core.ingestor import Ingestor

log = logging.getLogger(__name__)


class Rollcall:
    """Every change goes through `submit`: appended to the log first, then folded into DuckDB, so
    the caller reads its own write at once and a rebuild from the log gives the same state."""

    def __init__(self, settings: Settings | None = None, *, faces: Callable[[Rollcall], Any] | None = None):
        self.settings = settings or get_settings()
        self.settings.data_path.mkdir(parents=True, exist_ok=True)
        self.log: EventLog = open_event_log(self.settings)
        self.db = Database(self.settings.duckdb_path, timezone=self.settings.timezone)
        self.ingestor = Ingestor(self.log, self.db, batch_size=self.settings.ingest_batch_size,
                                 max_transaction_seconds=self.settings.ingest_max_transaction_seconds)
        self._keys = None
        self._face_factory = faces  # core.runtime passes core.faces.service.FaceService
        self._faces = None
        self._lazy = threading.Lock()
        self.maintenance = threading.Lock()  # one rewrite of the log at a time (retention, erasure)
        self.workers: list = []  # background workers bound to this store (stopped by close)
        self.alerts: Any = None  # the process's one unknown-face sender (core.runtime starts it)
        self.outbox = Outbox(self.settings.data_path / "outbox.sqlite")
        self.outbox_drainer = OutboxDrainer(self.outbox, self.log)
        if len(self.outbox):  # left by a run that stopped while the store was down
            self.outbox_drainer.start(self.settings.outbox_retry_seconds)

    @property
    def keys(self):
        """Per-person encryption keys (created on first use)."""
        with self._lazy:
            if self._keys is None:
                from core.keys import KeyStore, load_master_key

                master = load_master_key(self.settings.master_key, self.settings.data_path)
                self._keys = KeyStore(self.settings.data_path / "keys.sqlite", master)
        return self._keys

    @property
    def faces(self):
        """The face service: models are loaded on first use (seconds), then shared by all threads."""
        with self._lazy:
            if self._faces is None:
                if self._face_factory is None:
                    raise RuntimeError("this store was opened without the face service: open it with "
                                       "core.runtime.open_app")
                self._faces = self._face_factory(self)
        return self._faces

    @property
    def loaded_faces(self):
        """The face service if it was loaded, else None (for telling it to forget someone without loading it)."""
        return self._faces

    def submit(self, *events: Event, keep: bool = False) -> AppendResult:
        """Append, then fold up to these events (not past them: device traffic appended later is the
        background ingestor's), ahead of the background thread.

        If the store stays down after its retries, this raises — unless `keep`: a result someone has already
        seen (a check-in on the video, an alert sent) then waits in the local outbox and is appended, and folded,
        once the store answers again (`queued` in the result)."""
        try:
            result = self.log.append(list(events))
        except STORE_DOWN:
            if not keep:
                raise
            log.exception("the event log is unavailable: %d event(s) kept in the outbox", len(events))
            self.outbox.put(list(events))
            self.outbox_drainer.start(self.settings.outbox_retry_seconds)
            return AppendResult(0, 0, 0, queued=len(events))
        self.ingestor.catch_up(result.position)
        return result

    def fresh(self, timeout: float | None = None) -> bool:
        """Fold what other processes appended until now, for at most `timeout` seconds (a page that shows
        device traffic); False when a backlog is still being folded (the page shows what is there)."""
        limit = self.settings.page_fold_seconds if timeout is None else timeout
        return self.ingestor.catch_up(self.log.head(), limit)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.outbox_drainer.stop()
        self.outbox.close()
        self.ingestor.stop()
        self.db.close()
        self.log.close()
