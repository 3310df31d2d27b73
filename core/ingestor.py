"""Moves new events from the event log into DuckDB, exactly once, and can rebuild from scratch."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from core import projections
from core.db import Database
from core.eventlog import EventLog, StoredEvent
from core.workers import Poller

log = logging.getLogger(__name__)


class Ingestor(Poller):
    """Folds the log in batches (set-based, see projections). The background thread follows the log; a caller
    that needs its own write folded (`catch_up`) goes first: the thread steps aside between batches while
    anyone waits, so staff never queue behind a device backlog folded in the background."""

    name = "rollcall-ingestor"

    def __init__(self, events: EventLog, db: Database, *, batch_size: int = 1000,
                 max_transaction_seconds: float = 0.25):
        super().__init__()
        self.events = events
        self.db = db
        self.batch_size = batch_size
        # A transaction ends after this long even mid-batch: a crash then loses at most that much work, an app
        # restarted on a large backlog commits progress at once, and a waiting staff action waits at most this.
        self.max_transaction_seconds = max_transaction_seconds
        self._lock = threading.RLock()  # one fold at a time; re-entered: rebuild folds the last events under it
        self._waiting = threading.Condition()
        self._urgent = 0  # callers in catch_up: the background thread lets them go first

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Nothing is folded meanwhile (in this process): for changing events already folded, and mirroring
        the change in the read model, as one step."""
        with self._lock:
            yield

    def cursor(self) -> int:
        return int(self.db.scalar("SELECT cursor FROM ingest_state WHERE id = 1"))

    def pump(self, until: int | None = None, *, step_aside: bool = False) -> int:
        """Fold every event not yet ingested (only up to position `until` when given); returns how many.
        With `step_aside` (the background thread) it waits between batches while a caller is in catch_up."""
        done = 0
        while True:
            if step_aside:
                with self._waiting:
                    while self._urgent:
                        self._waiting.wait()
            with self._lock:  # batch by batch: a caller in catch_up gets in between
                cursor = self.cursor()
                if until is not None and cursor >= until:
                    return done
                batch = self.events.read_after(cursor, self.batch_size)
                if until is not None:
                    batch = [s for s in batch if s.position <= until]
                if not batch:
                    return done
                done += self._fold(batch)

    def catch_up(self, position: int, timeout: float = 30.0) -> bool:
        """Fold up to `position` now, ahead of the background thread; False if not reached within `timeout`
        (e.g. Firestore's settle window still hides it, or the backlog before it is long)."""
        with self._waiting:
            self._urgent += 1
        try:
            deadline = time.monotonic() + timeout
            while True:
                self.pump(until=position)
                if self.cursor() >= position:
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)  # appended but not readable yet
        finally:
            with self._waiting:
                self._urgent -= 1
                self._waiting.notify_all()

    def _fold(self, batch: list[StoredEvent]) -> int:
        """Fold the batch, or as much of it as fits in one transaction's time; returns how many were folded."""
        # The cursor moves in the same transaction as the changes: a crash mid-transaction replays it whole.
        try:
            with self.db.write() as cur:
                started = time.monotonic()
                folding = projections.Batch(cur)
                folded = 0
                for stored in batch:
                    folding.add(stored.event)
                    folded += 1
                    if time.monotonic() - started > self.max_transaction_seconds:
                        break
                folding.finish()
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
        """Replay the whole log into a new read model, made aside and swapped in; returns the events folded.

        Safe while the app runs: pages and workers keep reading the old tables (never a half-built one) and
        the ingestor keeps folding new events into them until the swap, when the new model catches up under
        the ingestor's lock. The new file holds only what the log holds now, so rows removed from the log
        (erasure, retention) leave no bytes behind in the old file's freed blocks. Worker cursors
        (processor_state) carry over: what they derived is already in the log.
        """
        fresh_path = self.db.path.with_name(self.db.path.stem + ".rebuild.duckdb")
        for stale in (fresh_path, fresh_path.with_name(fresh_path.name + ".wal")):
            stale.unlink(missing_ok=True)
        fresh = Database(fresh_path, timezone=self.db.timezone)
        try:
            # A rebuild has no staff waiting on it: large transactions fold fastest.
            aside = Ingestor(self.events, fresh, batch_size=max(self.batch_size, 5000), max_transaction_seconds=5.0)
            folded = aside.pump()
            with self._lock:
                folded += aside.pump()
                self.db.replace_file(fresh, carry=("processor_state",))
        finally:
            fresh.close()
            fresh_path.unlink(missing_ok=True)
        return folded

    def compact(self) -> None:
        """Copy the read model into a new file and swap it in, so rows an erasure or a purge removed leave no
        bytes in freed blocks. Folding goes on while the copy is made; what it folded meanwhile is folded again
        into the copy right after the swap (the copy carries its own cursor), so nobody waits for the copy."""
        copy_path = self.db.copy_aside()
        try:
            with self._lock:
                self.db.replace_file(copy_path, carry=("processor_state",))
                self.pump()
        finally:
            for leftover in (copy_path, copy_path.with_name(copy_path.name + ".wal")):
                leftover.unlink(missing_ok=True)

    def tick(self) -> int:
        return self.pump(step_aside=True)
