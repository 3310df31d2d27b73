"""Moves new events from the event log into DuckDB, exactly once, and can rebuild from scratch."""

from __future__ import annotations

import logging
import threading
import time

from core import projections
from core.db import Database
from core.eventlog import EventLog, StoredEvent
from core.workers import Poller

log = logging.getLogger(__name__)


class Ingestor(Poller):
    name = "rollcall-ingestor"

    def __init__(self, events: EventLog, db: Database, *, batch_size: int = 500,
                 max_transaction_seconds: float = 0.5):
        super().__init__()
        self.events = events
        self.db = db
        self.batch_size = batch_size
        # A transaction ends after this long even mid-batch: a crash then loses at most that much work, and an
        # app restarted on a large backlog commits progress at once (slow events fold in about 10 ms each).
        self.max_transaction_seconds = max_transaction_seconds
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
                done += self._fold(batch)

    def _fold(self, batch: list[StoredEvent]) -> int:
        """Fold the batch, or as much of it as fits in one transaction's time; returns how many were folded."""
        # The cursor moves in the same transaction as the changes: a crash mid-transaction replays it whole.
        try:
            with self.db.write() as cur:
                started = time.monotonic()
                folded = 0
                for stored in batch:
                    projections.apply(cur, stored.event)
                    folded += 1
                    if time.monotonic() - started > self.max_transaction_seconds:
                        break
                cur.execute("UPDATE ingest_state SET cursor = ? WHERE id = 1", [batch[folded - 1].position])
            return folded
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
        return len(batch)

    def rebuild(self) -> int:
        """Drop the read model and replay the whole log."""
        with self._lock:
            self.db.drop_read_model()
            self.db.migrate()
        return self.pump()

    def tick(self) -> int:
        return self.pump()
