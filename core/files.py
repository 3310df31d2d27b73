"""The data folder is private: device secrets, password hashes, personal data and camera frames live there.

The folder is created 0700 and every file in it 0600: the processes that open a store in it (the app, the
receiver, the CLI) create files for their own user only (umask 077). A umask is the one rule that also
covers files the databases create later on their own: SQLite's -wal / -shm (SQLite gives them the database
file's mode) and DuckDB's .wal, which DuckDB deletes at every checkpoint and creates again at the next write.

A folder or file that is already there keeps its mode (an admin may have reasons), but `loose_permissions`
lists what others can read, and the first store opened in a process logs it as a warning.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
FOLDER_MODE = 0o700
FILE_MODE = 0o600

_warned: set[str] = set()
_lock = threading.Lock()


def keep_private() -> None:
    """From now on this process creates files and folders for its own user only (adds 077 to the umask)."""
    with _lock:
        old = os.umask(PRIVATE_UMASK)  # reading the umask means setting it; the stricter value is harmless
        os.umask(old | PRIVATE_UMASK)


def private_folder(path: Path | str) -> Path:
    """Make sure `path` exists as a private folder, for a store about to be opened in it; warn once a process
    about anything in it that others can read."""
    path = Path(path)
    keep_private()
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & PRIVATE_UMASK and not any(path.iterdir()):
        # Empty: just made by a plain mkdir (the app's start-up makes the folder before any store opens).
        path.chmod(FOLDER_MODE)
    with _lock:
        first = str(path.resolve()) not in _warned
        _warned.add(str(path.resolve()))
    if first:
        for problem in loose_permissions(path):
            log.warning("data folder permissions: %s", problem)
    return path


def loose_permissions(data_path: Path | str) -> list[str]:
    """What in the data folder other users can read or change: one plain sentence each, with the fix.

    Empty when the folder is 0700 and everything in it 0600 (0700 for sub-folders), owned by this user."""
    data_path = Path(data_path)
    if not data_path.exists():
        return []
    problems = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    for path in [data_path, *sorted(data_path.rglob("*"))]:
        try:
            info = path.lstat()
        except FileNotFoundError:  # a WAL removed at a checkpoint while we looked
            continue
        if stat.S_ISLNK(info.st_mode):
            continue
        mode = stat.S_IMODE(info.st_mode)
        shown = "the data folder " + str(data_path) if path == data_path else str(path.relative_to(data_path))
        if uid is not None and info.st_uid != uid:
            problems.append(f"{shown} belongs to another user (uid {info.st_uid})")
        if mode & PRIVATE_UMASK:
            private = FOLDER_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
            who = "read and change" if mode & 0o022 else "read"
            problems.append(f"{shown} is {mode:04o}: other users can {who} it (chmod {private:o} {path})")
    return problems
