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
from core.schema import migrate


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
            return migrate(cur)

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
