"""The process-wide handles: settings, event log, read model, ingestor."""

from __future__ import annotations

import threading

from core.config import Settings, get_settings
from core.db import Database
from core.eventlog import AppendResult, Event, EventLog, open_event_log
from core.ingestor import Ingestor


class Rollcall:
    """Every change goes through `submit`: appended to the log first, then folded into DuckDB, so
    the caller reads its own write at once and a rebuild from the log gives the same state."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.settings.data_path.mkdir(parents=True, exist_ok=True)
        self.log: EventLog = open_event_log(self.settings)
        self.db = Database(self.settings.duckdb_path, timezone=self.settings.timezone)
        self.ingestor = Ingestor(self.log, self.db,
                                 max_transaction_seconds=self.settings.ingest_max_transaction_seconds)
        self._keys = None
        self._faces = None
        self._lazy = threading.Lock()
        self.maintenance = threading.Lock()  # one rewrite of the log at a time (retention, erasure)
        self.workers: list = []  # background workers bound to this store (stopped by close)

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
                from core.faces.service import FaceService

                self._faces = FaceService(self)
        return self._faces

    @property
    def loaded_faces(self):
        """The face service if it was loaded, else None (for telling it to forget someone without loading it)."""
        return self._faces

    def submit(self, *events: Event) -> AppendResult:
        result = self.log.append(list(events))
        self.ingestor.pump()
        return result

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.ingestor.stop()
        self.db.close()
        self.log.close()
