"""DuckDB read model: the connection and versioned schema migrations.

Only the app process opens this file for writing; everything in it is folded from the event log,
so it can be dropped and rebuilt at any time (see core.ingestor).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from core.files import private_folder


class DatabaseLockedError(RuntimeError):
    """Another process (normally the running app) holds the DuckDB file."""


class DatabaseBusyError(RuntimeError):
    """The file could not be swapped: readers did not finish, or another connection in this process holds it."""


class DatabaseDamagedError(RuntimeError):
    """The DuckDB file cannot be opened or read: damaged (a bad header, a block that fails its checksum), cut
    short, or written by another DuckDB version. The read model is disposable: `rebuild` sets it aside."""


# DuckDB's words when another process holds the file ("Could not set lock on file …: Conflicting lock is held");
# not a bare "lock", which a damaged file's "checksum … in block at location" also contains.
_LOCKED = re.compile(r"could not set lock|conflicting lock", re.IGNORECASE)


def is_lock_error(exc: BaseException) -> bool:
    return bool(_LOCKED.search(str(exc)))


def unreadable_reason(path: Path | str) -> str | None:
    """Why the DuckDB file at `path` cannot be used, or None when it opens and what a rebuild reads from it
    (the catalog, the schema version, the ingest and worker positions) reads. DatabaseLockedError when
    another process holds it: in use is not damaged."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        conn = duckdb.connect(str(path))
    except duckdb.Error as exc:
        if is_lock_error(exc):
            raise DatabaseLockedError(f"{path} is in use by another process (is the app running?). "
                                      "Stop it first, or do this from the app.") from exc
        return _first_line(exc)
    try:
        tables = {row[0] for row in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for table in ("schema_version", "ingest_state", "processor_state"):
            if table in tables:
                conn.execute(f"SELECT * FROM {table}").fetchall()
    except duckdb.Error as exc:
        return _first_line(exc)
    finally:
        conn.close()
    return None


def set_aside(path: Path | str) -> Path:
    """Rename the file (and its .wal) to `<name>.corrupt-<UTC time>`, kept for a look; returns the new path."""
    path = Path(path)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    wal = Path(f"{path}.wal")
    if wal.exists():
        os.replace(wal, Path(f"{target}.wal"))
    return target


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


class _Gate:
    """Readers share the connection; swapping the file waits until none is inside and lets none in meanwhile.

    A thread already reading may read again (nested) even while a swap waits, so it cannot deadlock itself.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._closed = False
        self._mine = threading.local()

    @contextmanager
    def shared(self) -> Iterator[None]:
        depth = getattr(self._mine, "depth", 0)
        with self._cond:
            while self._closed and depth == 0:
                self._cond.wait()
            self._readers += 1
        self._mine.depth = depth + 1
        try:
            yield
        finally:
            self._mine.depth = depth
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self, timeout: float) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._closed = True
            while self._readers:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._closed = False
                    self._cond.notify_all()
                    raise DatabaseBusyError("readers of the database did not finish; try again")
                self._cond.wait(left)
        try:
            yield
        finally:
            with self._cond:
                self._closed = False
                self._cond.notify_all()


# Each entry is one schema version; never edit a released entry, append a new one.
MIGRATIONS: list[str] = [
    # 1: foundation
    """
    CREATE TABLE people (
        student_id     VARCHAR PRIMARY KEY,
        name           VARCHAR NOT NULL,
        name_en        VARCHAR,
        guardian_name  VARCHAR,
        department     VARCHAR,
        phone          VARCHAR,
        email          VARCHAR,
        ceremony_order INTEGER,
        photo_count    INTEGER NOT NULL DEFAULT 0,
        created_at     TIMESTAMPTZ NOT NULL,
        updated_at     TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE classes (
        class_id    VARCHAR PRIMARY KEY,
        name        VARCHAR NOT NULL,
        department  VARCHAR,
        teacher     VARCHAR
    );
    CREATE TABLE class_members (
        class_id   VARCHAR NOT NULL,
        student_id VARCHAR NOT NULL,
        PRIMARY KEY (class_id, student_id)
    );
    CREATE TABLE schedules (
        schedule_id      VARCHAR PRIMARY KEY,
        class_id         VARCHAR NOT NULL,
        weekday          INTEGER,          -- 0 = Monday; NULL for a dated schedule
        on_date          DATE,             -- a one-off date; NULL for a weekly schedule
        start_time       TIME NOT NULL,    -- local time
        end_time         TIME NOT NULL,
        late_after_min   INTEGER NOT NULL DEFAULT 10,
        room             VARCHAR
    );
    CREATE TABLE sessions (
        session_id     VARCHAR PRIMARY KEY,
        class_id       VARCHAR NOT NULL,
        starts_at      TIMESTAMPTZ NOT NULL,
        ends_at        TIMESTAMPTZ NOT NULL,
        late_after_min INTEGER NOT NULL DEFAULT 10,
        status         VARCHAR NOT NULL DEFAULT 'scheduled',  -- scheduled | active | ended
        ended_at       TIMESTAMPTZ
    );
    CREATE TABLE attendance (
        session_id   VARCHAR NOT NULL,
        student_id   VARCHAR NOT NULL,
        status       VARCHAR NOT NULL,   -- present | late | absent | excused
        checked_at   TIMESTAMPTZ NOT NULL,
        method       VARCHAR NOT NULL,   -- face | qr | manual | device
        score        DOUBLE,
        event_id     VARCHAR NOT NULL,
        PRIMARY KEY (session_id, student_id)
    );
    CREATE TABLE ceremonies (
        ceremony_id        VARCHAR PRIMARY KEY,
        name               VARCHAR NOT NULL,
        on_date            DATE NOT NULL,
        venue              VARCHAR,
        absent_timeout_min DOUBLE NOT NULL DEFAULT 5,
        created_at         TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE ceremony_entries (
        ceremony_id  VARCHAR NOT NULL,
        student_id   VARCHAR NOT NULL,
        order_no     INTEGER NOT NULL,
        status       VARCHAR NOT NULL DEFAULT 'pending',  -- pending | waiting | on_stage | received | absent
        called_at    TIMESTAMPTZ,
        on_stage_at  TIMESTAMPTZ,
        received_at  TIMESTAMPTZ,
        PRIMARY KEY (ceremony_id, student_id)
    );
    CREATE TABLE users (
        username        VARCHAR PRIMARY KEY,
        display_name    VARCHAR,
        role            VARCHAR NOT NULL,
        student_id      VARCHAR,
        password_hash   VARCHAR NOT NULL,
        must_change     BOOLEAN NOT NULL DEFAULT TRUE,
        enabled         BOOLEAN NOT NULL DEFAULT TRUE,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until    TIMESTAMPTZ,
        last_login      TIMESTAMPTZ,
        created_at      TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE audit (
        event_id   VARCHAR PRIMARY KEY,
        at_time    TIMESTAMPTZ NOT NULL,
        actor      VARCHAR,
        action     VARCHAR NOT NULL,
        target     VARCHAR,
        detail     VARCHAR,
        reason     VARCHAR
    );
    CREATE TABLE ingest_errors (
        position   BIGINT PRIMARY KEY,
        event_id   VARCHAR NOT NULL,
        kind       VARCHAR NOT NULL,
        error      VARCHAR NOT NULL
    );
    CREATE TABLE ingest_state (
        id       INTEGER PRIMARY KEY,
        cursor   BIGINT NOT NULL
    );
    INSERT INTO ingest_state VALUES (1, 0);
    """,
    # 2: faces — consent, encrypted templates, operator-marked wrong matches
    """
    CREATE TABLE consents (
        student_id  VARCHAR PRIMARY KEY,
        method      VARCHAR NOT NULL,     -- how it was given: signed form, online, ...
        purpose     VARCHAR,
        recorded_by VARCHAR,
        recorded_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE face_templates (
        template_id VARCHAR PRIMARY KEY,
        student_id  VARCHAR NOT NULL,
        model       VARCHAR NOT NULL,     -- templates of different models are not comparable
        detector    VARCHAR NOT NULL,
        quality     VARCHAR,              -- JSON: face_px, sharpness, brightness, yaw_degrees
        source      VARCHAR,
        token       VARCHAR NOT NULL,     -- the embedding, encrypted with the person's key
        created_at  TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE face_negatives (
        event_id    VARCHAR PRIMARY KEY,
        student_id  VARCHAR NOT NULL,     -- the person the face was wrongly matched to
        model       VARCHAR NOT NULL,
        token       VARCHAR NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE face_state (id INTEGER PRIMARY KEY, version BIGINT NOT NULL);
    INSERT INTO face_state VALUES (1, 0);
    """,
    # 3: devices — health from heartbeats, and what each device sent
    """
    CREATE TABLE device_status (
        device_id   VARCHAR PRIMARY KEY,
        last_seen   TIMESTAMPTZ,
        boot_id     VARCHAR,
        firmware    VARCHAR,
        uptime_s    BIGINT,
        rssi        INTEGER,
        queue_depth INTEGER,
        free_heap   BIGINT
    );
    CREATE TABLE device_events (
        event_id    VARCHAR PRIMARY KEY,
        device_id   VARCHAR NOT NULL,
        kind        VARCHAR NOT NULL,
        at_time     TIMESTAMPTZ NOT NULL,
        received_at TIMESTAMPTZ,
        detail      VARCHAR
    );
    """,
    # 4: cursors of the workers that turn events into new events (e.g. frames into check-ins).
    # Kept across a rebuild: what they derived is already in the log under stable ids.
    """
    CREATE TABLE IF NOT EXISTS processor_state (name VARCHAR PRIMARY KEY, cursor BIGINT NOT NULL);
    """,
    # 5: live ceremonies — running state, the calling queue, flags; RFID tags on people
    """
    ALTER TABLE ceremonies ADD COLUMN status VARCHAR DEFAULT 'planned';
    ALTER TABLE ceremonies ADD COLUMN auto_advance BOOLEAN DEFAULT FALSE;
    ALTER TABLE ceremonies ADD COLUMN calls INTEGER DEFAULT 0;
    ALTER TABLE ceremonies ADD COLUMN started_at TIMESTAMPTZ;
    ALTER TABLE ceremonies ADD COLUMN ended_at TIMESTAMPTZ;
    ALTER TABLE ceremony_entries ADD COLUMN queue_pos DOUBLE;
    ALTER TABLE ceremony_entries ADD COLUMN call_no INTEGER;
    CREATE TABLE ceremony_flags (
        event_id    VARCHAR NOT NULL,
        ceremony_id VARCHAR NOT NULL,
        at_time     TIMESTAMPTZ NOT NULL,
        kind        VARCHAR NOT NULL,
        detail      VARCHAR
    );
    ALTER TABLE people ADD COLUMN rfid_tag VARCHAR;
    ALTER TABLE people ADD COLUMN pronunciation VARCHAR;
    CREATE TABLE lineup_checks (
        event_id    VARCHAR PRIMARY KEY,
        ceremony_id VARCHAR NOT NULL,
        student_id  VARCHAR NOT NULL,
        at_time     TIMESTAMPTZ NOT NULL,
        face_match  VARCHAR,          -- matched | mismatch | no face | not checked
        score       DOUBLE
    );
    """,
    # 6: faces seen but not recognised (webcam or ESP32-CAM), for recognition-quality statistics
    """
    CREATE TABLE unknown_faces (
        event_id  VARCHAR PRIMARY KEY,
        at_time   TIMESTAMPTZ NOT NULL,
        source    VARCHAR,              -- device id, or the check-in page
        score     DOUBLE                -- the best (rejected) similarity
    );
    """,
    # 7: attendance carries its session's class and start (written with the row), so statistics filter and
    #    group the big table without joining sessions; and its status as flags (a row's status never changes)
    """
    ALTER TABLE attendance ADD COLUMN class_id VARCHAR;
    ALTER TABLE attendance ADD COLUMN starts_at TIMESTAMPTZ;
    ALTER TABLE attendance ADD COLUMN attended BOOLEAN;   -- status present or late
    ALTER TABLE attendance ADD COLUMN late BOOLEAN;       -- status late
    UPDATE attendance a SET class_id = s.class_id, starts_at = s.starts_at
    FROM sessions s WHERE s.session_id = a.session_id;
    UPDATE attendance SET attended = status IN ('present', 'late'), late = status = 'late';
    """,
    # 8: live check-in — a session's setup (liveness challenge, once per day, QR needs a face), when it was
    #    started; each record's evidence (runner-up gap, liveness, model and threshold), corrections with their
    #    reason; the encrypted face crop of each check-in; alerts sent for unknown faces
    """
    ALTER TABLE sessions ADD COLUMN liveness VARCHAR DEFAULT 'off';       -- off | head_turn
    ALTER TABLE sessions ADD COLUMN once_per_day BOOLEAN DEFAULT false;
    ALTER TABLE sessions ADD COLUMN qr_needs_face BOOLEAN DEFAULT false;
    ALTER TABLE sessions ADD COLUMN started_at TIMESTAMPTZ;
    ALTER TABLE sessions ADD COLUMN started_by VARCHAR;
    ALTER TABLE attendance ADD COLUMN runner_up_gap DOUBLE;
    ALTER TABLE attendance ADD COLUMN liveness VARCHAR;
    ALTER TABLE attendance ADD COLUMN model VARCHAR;
    ALTER TABLE attendance ADD COLUMN threshold DOUBLE;
    ALTER TABLE attendance ADD COLUMN corrected_by VARCHAR;
    ALTER TABLE attendance ADD COLUMN correction_reason VARCHAR;
    CREATE TABLE evidence_crops (
        event_id    VARCHAR PRIMARY KEY,  -- the attendance event
        session_id  VARCHAR NOT NULL,
        student_id  VARCHAR NOT NULL,
        at_time     TIMESTAMPTZ NOT NULL,
        crop_token  VARCHAR NOT NULL      -- JPEG, Fernet-encrypted with the person's key
    );
    CREATE TABLE alerts (
        alert_id  VARCHAR PRIMARY KEY,
        at_time   TIMESTAMPTZ NOT NULL,
        kind      VARCHAR NOT NULL,       -- unknown_face
        source    VARCHAR,
        status    VARCHAR NOT NULL,       -- sent | failed | rate_limited
        detail    VARCHAR
    );
    """,
    # 9: attendance carries a small integer key per person (person_no, handed out by person_keys when the
    #    person's first check-in is folded), so counting distinct people over millions of rows sets bits
    #    instead of hashing VARCHAR ids. The number means nothing; it is only unique per student_id.
    """
    CREATE TABLE person_keys (
        student_id VARCHAR PRIMARY KEY,
        person_no  INTEGER NOT NULL
    );
    INSERT INTO person_keys SELECT student_id, CAST(row_number() OVER (ORDER BY student_id) AS INTEGER)
    FROM (SELECT DISTINCT student_id FROM attendance);
    ALTER TABLE attendance ADD COLUMN person_no INTEGER;
    UPDATE attendance a SET person_no = k.person_no FROM person_keys k WHERE k.student_id = a.student_id;
    """,
    # 10: the consent register — a consent can be revoked (who, when, why); recording it again starts a new one
    """
    ALTER TABLE consents ADD COLUMN revoked_at TIMESTAMPTZ;
    ALTER TABLE consents ADD COLUMN revoked_by VARCHAR;
    ALTER TABLE consents ADD COLUMN revoke_reason VARCHAR;
    """,
    # 11: sessions get a small integer key (session_no, in the order they were scheduled), copied onto attendance
    #     like their class and start: statistics group millions of rows by it instead of the VARCHAR id
    """
    ALTER TABLE sessions ADD COLUMN session_no INTEGER;
    UPDATE sessions SET session_no = n.no FROM (
        SELECT session_id AS sid, CAST(row_number() OVER (ORDER BY starts_at, session_id) AS INTEGER) AS no
        FROM sessions) n WHERE sessions.session_id = n.sid;
    ALTER TABLE attendance ADD COLUMN session_no INTEGER;
    UPDATE attendance a SET session_no = s.session_no FROM sessions s WHERE s.session_id = a.session_id;
    """,
    # 12: a graduate's absent timer starts when they reach the front of the waiting line, not at the call
    """
    ALTER TABLE ceremony_entries ADD COLUMN front_at TIMESTAMPTZ;
    """,
    # 13: big-screen links can be revoked: a link names the generation it was issued in
    """
    ALTER TABLE ceremonies ADD COLUMN links_generation INTEGER DEFAULT 0;
    """,
]

READ_MODEL_TABLES = ["people", "classes", "class_members", "schedules", "sessions", "attendance",
                     "ceremonies", "ceremony_entries", "users", "audit", "ingest_errors", "ingest_state",
                     "consents", "face_templates", "face_negatives", "face_state",
                     "device_status", "device_events", "ceremony_flags", "lineup_checks",
                     "unknown_faces", "evidence_crops", "alerts", "person_keys"]


class Database:
    """One DuckDB connection per process; each thread works through its own cursor."""

    def __init__(self, path: Path | str, *, timezone: str = "UTC"):
        self.path = Path(path)
        self.timezone = timezone
        private_folder(self.path.parent)  # 0700, and the file and its .wal (made again after each checkpoint) 0600
        try:
            self._conn = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            if is_lock_error(exc):
                raise DatabaseLockedError(
                    f"{self.path} is in use by another process (is the app running?). "
                    "Stop it first, or do this from the app."
                ) from exc
            raise DatabaseDamagedError(
                f"{self.path.name} cannot be opened ({_first_line(exc)}). The read model is rebuilt from the event log "
                "with `python -m core.cli rebuild`, which moves the damaged file aside."
            ) from exc
        self._write_lock = threading.RLock()
        self._gate = _Gate()
        self.migrate()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor; use it inside `reading()` or `write()` (the file may be swapped otherwise)."""
        cur = self._conn.cursor()
        # Instants are stored as UTC; results come back in the configured local time zone.
        cur.execute("SET TimeZone = ?", [self.timezone])
        return cur

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for reads (e.g. a streamed export); the file is not swapped while it is open."""
        with self._gate.shared():
            cur = self.cursor()
            try:
                yield cur
            finally:
                cur.close()

    def migrate(self) -> int:
        with self.write() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = int(cur.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0])
            for version, sql in enumerate(MIGRATIONS[current:], start=current + 1):
                cur.execute(sql)
                cur.execute("INSERT INTO schema_version VALUES (?)", [version])
        return len(MIGRATIONS)

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A transaction; writers are serialised within the process."""
        with self._write_lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        with self.reading() as cur:
            return cur.execute(sql, params or []).df()

    def scalar(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
        with self.reading() as cur:
            row = cur.execute(sql, params or []).fetchone()
            return row[0] if row else None

    def replace_file(self, fresh: Database | Path, *, carry: tuple[str, ...] = (), timeout: float = 60.0) -> None:
        """Swap in another database (a rebuild or a copy made aside; closed here), atomically for this process's
        users.

        Writers wait on the write lock and readers at the gate; the old file is replaced by a rename, so
        none of its pages — deleted rows included, which DuckDB leaves in freed blocks — stay in the data
        folder. Needs to be the only connection to the file in this process (DuckDB shares one instance
        per file: a second one would keep the old file open). Tables in `carry` are copied over as they are
        at the swap (state that is not folded from the log, such as worker cursors).
        """
        if isinstance(fresh, Path):
            fresh = Database(fresh, timezone=self.timezone)
        with self._write_lock:
            for table in carry:
                rows = self._conn.execute(f"SELECT * FROM {table}").fetchall()
                with fresh.write() as cur:
                    cur.execute(f"DELETE FROM {table}")
                    if rows:
                        cur.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
            fresh.close()
            self._swap_in(fresh.path, timeout)

    def copy_aside(self) -> Path:
        """Every table copied into a new file, as one consistent snapshot, while writers go on (they are not in
        the copy: see Ingestor.compact). The copy holds no bytes of rows deleted before it: DuckDB leaves those
        in freed blocks of the file, which a copy swapped in (replace_file) gets rid of."""
        copy_path = self.path.with_name(self.path.stem + ".copy.duckdb")
        for stale in (copy_path, Path(f"{copy_path}.wal")):
            stale.unlink(missing_ok=True)
        Database(copy_path, timezone=self.timezone).close()  # the schema, made by the same migrations
        quoted = str(copy_path).replace("'", "''")
        with self._gate.shared():
            cur = self.cursor()
            try:
                source = cur.execute("SELECT current_database()").fetchall()[0][0]
                cur.execute(f"ATTACH '{quoted}' AS copy_aside")
                try:
                    tables = cur.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                                         "AND schema_name = 'main'", [source]).fetchall()
                    cur.execute("BEGIN TRANSACTION")  # one snapshot of every table
                    try:
                        for (table,) in tables:
                            cur.execute(f"DELETE FROM copy_aside.{table}")
                            cur.execute(f'INSERT INTO copy_aside.{table} BY NAME SELECT * FROM "{source}".{table}')
                        cur.execute("COMMIT")
                    except BaseException:
                        cur.execute("ROLLBACK")
                        raise
                finally:
                    cur.execute("DETACH copy_aside")
            finally:
                cur.close()
        return copy_path

    def _swap_in(self, fresh_path: Path, timeout: float) -> None:
        """Replace this file by `fresh_path` (closed), by a rename, while no reader or writer is inside."""
        with self._write_lock, self._gate.exclusive(timeout):
            self._conn.close()
            try:
                # A connection with another configuration is refused while anything else holds the file.
                probe = duckdb.connect(str(self.path), config={"custom_user_agent": "rollcall-swap-probe"})
            except duckdb.ConnectionException as exc:
                self._conn = duckdb.connect(str(self.path))
                raise DatabaseBusyError(f"another connection in this process holds {self.path}") from exc
            probe.close()
            os.replace(fresh_path, self.path)
            for leftover in (Path(f"{fresh_path}.wal"), Path(f"{self.path}.wal")):
                leftover.unlink(missing_ok=True)
            self._conn = duckdb.connect(str(self.path))

    def close(self) -> None:
        self._conn.close()
