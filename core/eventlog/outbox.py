"""A local durable queue for events the store would not take: nothing already shown to someone is lost.

When the event log stays unavailable after its own retries (Firestore down, the SQLite file locked for longer
than its busy timeout), a worker whose result a person has already seen — a check-in on the video, an alert
sent to Telegram — puts the events here instead of dropping them. The app appends them later, oldest first.
Events keep their ids, so an event that did reach the store before the failure is a harmless duplicate.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path

from core.eventlog.base import Event, EventLog, EventLogError
from core.workers import Poller

log = logging.getLogger(__name__)

# What "the store is down" looks like from each back-end (the receiver answers 503 on the same).
STORE_DOWN: tuple[type[BaseException], ...] = (EventLogError, sqlite3.OperationalError)


class Outbox:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS outbox (n INTEGER PRIMARY KEY AUTOINCREMENT, "
                           "event TEXT NOT NULL)")

    def put(self, events: list[Event]) -> None:
        rows = [(json.dumps({"id": e.id, "kind": e.kind, "ts_ms": e.ts_ms, "payload": e.payload, "actor": e.actor,
                             "source": e.source}, ensure_ascii=False),) for e in events]
        with self._lock:
            self._conn.executemany("INSERT INTO outbox (event) VALUES (?)", rows)

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def drain(self, store: EventLog, batch: int = 200) -> int:
        """Append what waits, oldest first; stops at the first failure (the store is still down). Returns how
        many were appended."""
        done = 0
        while True:
            with self._lock:
                rows = self._conn.execute("SELECT n, event FROM outbox ORDER BY n LIMIT ?", [batch]).fetchall()
            if not rows:
                return done
            store.append([Event(**json.loads(text)) for _, text in rows])
            with self._lock:
                self._conn.execute("DELETE FROM outbox WHERE n <= ?", [rows[-1][0]])
            done += len(rows)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class OutboxDrainer(Poller):
    """Appends what the outbox holds once the store answers again."""

    name = "rollcall-outbox"

    def __init__(self, outbox: Outbox, store: EventLog, on_appended=None):
        super().__init__()
        self.outbox, self.store, self.on_appended = outbox, store, on_appended

    def tick(self) -> int:
        try:
            done = self.outbox.drain(self.store)
        except STORE_DOWN as exc:
            log.warning("the event log is still unavailable; %d event(s) wait in the outbox: %s",
                        len(self.outbox), exc)
            return 0
        if done:
            log.info("appended %d event(s) kept in the outbox", done)
            if self.on_appended:
                self.on_appended()
        return done
