"""Moves new events from the event log into DuckDB, exactly once, and can rebuild from scratch."""

from __future__ import annotations

import logging
import threading

from core import projections
from core.db import Database
from core.eventlog import EventLog, StoredEvent
from core.workers import Poller

log = logging.getLogger(__name__)


class Ingestor(Poller):
    name = "rollcall-ingestor"

    def __init__(self, events: EventLog, db: Database, *, batch_size: int = 500):
        super().__init__()
        self.events = events
        self.db = db
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def cursor(self) -> int:
        return int(self.db.scalar("SELECT cursor FROM ingest_state WHERE id = 1"))

    def pump(self) -> int:
        """Fold every event not yet ingested; returns how many were folded."""
        done = 0
        with self._lock:
            while True:
                batch = self.events.read_after(self.cursor(), self.batch_size)
                if not batch:
                    return done
                self._fold(batch)
                done += len(batch)

    def _fold(self, batch: list[StoredEvent]) -> None:
        # The cursor moves in the same transaction as the changes: a crash mid-batch replays it whole.
        try:
            with self.db.write() as cur:
                for stored in batch:
                    projections.apply(cur, stored.event)
                cur.execute("UPDATE ingest_state SET cursor = ? WHERE id = 1", [batch[-1].position])
            return
        except Exception:
            log.exception("batch failed; folding one event at a time")
        for stored in batch:
            try:
                with self.db.write() as cur:
                    projections.apply(cur, stored.event)
                    cur.execute("UPDATE ingest_state SET cursor = ? WHERE id = 1", [stored.position])
            except Exception as exc:  # noqa: BLE001
                log.error("event %s (%s) could not be folded: %s", stored.event.id, stored.event.kind, exc)
                with self.db.write() as cur:
                    cur.execute("INSERT OR REPLACE INTO ingest_errors VALUES (?, ?, ?, ?)",
                                [stored.position, stored.event.id, stored.event.kind, str(exc)[:1000]])
                    cur.execute("UPDATE ingest_state SET cursor = ? WHERE id = 1", [stored.position])

    def rebuild(self) -> int:
        """Drop the read model and replay the whole log."""
        with self._lock:
            self.db.drop_read_model()
            self.db.migrate()
        return self.pump()

    def tick(self) -> int:
        return self.pump()
