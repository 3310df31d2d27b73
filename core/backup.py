"""Backups of what cannot be rebuilt: the event log, the key store and the master key (and kept photos).

DuckDB is not in a backup: it is folded from the event log, so a restore rebuilds it (`python -m core.cli
rebuild`). The SQLite files are copied with SQLite's online backup API, page by page under a read transaction:
the copy is consistent while the app and the receiver keep appending, and it includes what is still in the
WAL (a plain file copy could catch a write halfway and misses the -wal file). The copies are self-contained
(rollback journal, no -wal) and checked with `PRAGMA integrity_check`.

A backup holds everything the data folder holds (keys included): it is made private (0700 / 0600) like the
folder, and erasing a person later does not reach it (see README, Privacy).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from core.config import Settings
from core.files import private_folder


class BackupError(RuntimeError):
    pass


@dataclass
class BackupReport:
    dest: Path
    files: list[tuple[str, int]] = field(default_factory=list)  # (name in dest, bytes)
    events: int | None = None  # events in the copied log
    head: int | None = None  # its last position
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"Backed up to {self.dest}:"]
        out += [f"  {name}  {size / 1e6:,.1f} MB" for name, size in self.files]
        if self.events is not None:
            out.append(f"  the event log holds {self.events} events (last position {self.head})")
        return out + [f"Note: {note}" for note in self.notes]


def sqlite_backup(source_path: Path, dest_path: Path) -> None:
    """A consistent copy of a live SQLite database (any journal mode) into a new self-contained file."""
    if not source_path.is_file():
        raise BackupError(f"{source_path} does not exist")
    partial = dest_path.with_name(dest_path.name + ".partial")
    source = sqlite3.connect(source_path, timeout=30)
    try:
        source.execute("PRAGMA busy_timeout = 30000")
        target = sqlite3.connect(partial)
        try:
            source.backup(target)  # one step: a consistent snapshot, WAL content included; writers are not blocked
            target.execute("PRAGMA journal_mode = DELETE")  # a single file, no -wal beside it
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            target.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"could not copy {source_path.name}: {exc}") from None
    finally:
        source.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy of {source_path.name} failed its integrity check: {check}")
    os.replace(partial, dest_path)


def backup(settings: Settings, dest: Path) -> BackupReport:
    """Copy what cannot be rebuilt from the data folder into `dest`, a new or empty folder."""
    data = settings.data_path
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty folder: give a new one")
    if dest.resolve() == data.resolve() or data.resolve() in dest.resolve().parents:
        raise BackupError(f"{dest} is inside the data folder: give a folder elsewhere (another disk is best)")
    private_folder(dest)
    report = BackupReport(dest)
    if settings.event_log_backend == "local":
        sqlite_backup(settings.events_path, dest / "events.sqlite")
        with closing(sqlite3.connect(dest / "events.sqlite")) as conn:
            report.events, report.head = conn.execute(
                "SELECT count(*), coalesce(max(position), 0) FROM events").fetchone()
        report.files.append(("events.sqlite", (dest / "events.sqlite").stat().st_size))
    else:
        report.notes.append("the event log and the devices are in Firestore: back them up with a Firestore export "
                            "(gcloud firestore export) or point-in-time recovery")
    for name in ("keys.sqlite", "outbox.sqlite"):
        if (data / name).is_file():
            sqlite_backup(data / name, dest / name)
            report.files.append((name, (dest / name).stat().st_size))
    if (data / "master.key").is_file():
        shutil.copyfile(data / "master.key", dest / "master.key")
        os.chmod(dest / "master.key", 0o600)
        report.files.append(("master.key", (dest / "master.key").stat().st_size))
    elif settings.master_key:
        report.notes.append("the master key is set in secrets (ROLLCALL_MASTER_KEY): keep a copy of it apart from "
                            "this backup; without it the face templates and crops cannot be read")
    if (data / "photos").is_dir():
        shutil.copytree(data / "photos", dest / "photos")
        size = sum(p.stat().st_size for p in (dest / "photos").rglob("*") if p.is_file())
        report.files.append(("photos/", size))
    if not (data / "keys.sqlite").is_file():
        report.notes.append("no keys.sqlite yet: nobody has been enrolled")
    return report
