"""Local event log: one SQLite file in WAL mode, safe for several processes on one machine."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from pathlib import Path

from core.eventlog.base import AppendResult, Device, Event, SecretSealer, StoredEvent, now_ms
from core.files import private_folder

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT NOT NULL UNIQUE,
    kind     TEXT NOT NULL,
    ts_ms    INTEGER NOT NULL,
    actor    TEXT,
    source   TEXT NOT NULL,
    payload  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS request_nonces (
    key        TEXT PRIMARY KEY,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS request_nonces_expiry ON request_nonces (expires_ms);
CREATE TABLE IF NOT EXISTS devices (
    device_id  TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    label      TEXT NOT NULL DEFAULT ''
);
"""


class SQLiteEventLog:
    def __init__(self, path: Path | str, busy_timeout: float = 30.0, sealer: SecretSealer | None = None):
        self.sealer = sealer  # device secrets sealed at rest when given (the factory gives one)
        self.path = Path(path)
        self.busy_timeout = busy_timeout  # how long a write waits for another process's lock, then fails
        private_folder(self.path.parent)  # 0700, and this file and its -wal / -shm 0600
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(_SCHEMA)
            if "role" not in {row[1] for row in conn.execute("PRAGMA table_info(devices)")}:
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it just now
                    conn.execute("ALTER TABLE devices ADD COLUMN role TEXT NOT NULL DEFAULT 'any'")

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread: sqlite3 connections must not cross threads.
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes in WAL mode
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA secure_delete=ON")  # rewritten events leave no old bytes in free pages
            self._local.conn = conn
        return conn

    def append(self, events: list[Event]) -> AppendResult:
        if not events:
            return AppendResult(0, 0, 0)
        conn = self._conn()
        rows = [(e.id, e.kind, e.ts_ms, e.actor, e.source, json.dumps(e.payload, ensure_ascii=False))
                for e in events]
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO events (id, kind, ts_ms, actor, source, payload) VALUES (?,?,?,?,?,?)",
                rows,
            )
            accepted = conn.total_changes - before
            # The head inside the write transaction: every event of this append (new or a duplicate) is at or
            # before it, and anything appended later is after it.
            head = conn.execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()[0]
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return AppendResult(accepted=accepted, duplicates=len(events) - accepted, position=int(head))

    def read_after(self, cursor: int, limit: int = 1000) -> list[StoredEvent]:
        cur = self._conn().execute(
            "SELECT position, id, kind, ts_ms, actor, source, payload FROM events "
            "WHERE position > ? ORDER BY position LIMIT ?",
            (cursor, limit),
        )
        return [
            StoredEvent(pos, Event(id=id_, kind=kind, ts_ms=ts, actor=actor, source=src, payload=json.loads(p)))
            for pos, id_, kind, ts, actor, src, p in cur
        ]

    def head(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()
        return int(row[0])

    def put_device(self, device: Device) -> None:
        self._conn().execute(
            "INSERT INTO devices (device_id, secret, enabled, created_ms, label, role) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(device_id) DO UPDATE SET secret=excluded.secret, enabled=excluded.enabled, "
            "label=excluded.label, role=excluded.role",
            (device.device_id, self.sealer.seal(device.secret) if self.sealer else device.secret, int(device.enabled),
             device.created_ms, device.label, device.role),
        )

    def get_device(self, device_id: str) -> Device | None:
        row = self._conn().execute(
            "SELECT device_id, secret, enabled, created_ms, label, role FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        return self._open(_device(row)) if row else None

    def list_devices(self) -> list[Device]:
        rows = self._conn().execute(
            "SELECT device_id, secret, enabled, created_ms, label, role FROM devices ORDER BY device_id"
        ).fetchall()
        return [d for d in (self._open(_device(r)) for r in rows) if d is not None]

    def _open(self, device: Device) -> Device | None:
        return self.sealer.open(device) if self.sealer else device

    def remember_request(self, key: str, expires_ms: int) -> bool:
        conn = self._conn()
        self._nonce_writes = getattr(self, "_nonce_writes", 0) + 1
        if self._nonce_writes % 500 == 0:  # sweep now and then, not on every request
            conn.execute("DELETE FROM request_nonces WHERE expires_ms < ?", (now_ms(),))
        cur = conn.execute("INSERT OR IGNORE INTO request_nonces VALUES (?, ?)", (key, expires_ms))
        return cur.rowcount == 1

    def rewrite(self, changes: dict[str, Event]) -> int:
        if not changes:
            return 0
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = 0
            for old_id, e in changes.items():
                found += conn.execute(
                    "UPDATE events SET id = ?, kind = ?, ts_ms = ?, actor = ?, source = ?, payload = ? WHERE id = ?",
                    (e.id, e.kind, e.ts_ms, e.actor, e.source, json.dumps(e.payload, ensure_ascii=False), old_id),
                ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        # The old row versions also sit in the write-ahead log until a checkpoint copies and truncates it.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return found

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _device(row: tuple) -> Device:
    return Device(device_id=row[0], secret=row[1], enabled=bool(row[2]), created_ms=row[3], label=row[4],
                  role=row[5])
