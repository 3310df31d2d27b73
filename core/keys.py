"""Per-person encryption keys (crypto-shredding).

Biometric data (templates, crops) is encrypted with a Fernet key per person before it enters the
event log or DuckDB. The keys live in their own SQLite file, each wrapped with the master key;
erasing a person deletes their key, after which every copy of their data anywhere is unreadable.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from core.files import private_folder


class KeyErasedError(LookupError):
    """The person's key was erased (or never existed): their data cannot be read."""


def load_master_key(configured: str | None, data_dir: Path) -> bytes:
    """The master key from secrets / env, else one generated once into the data folder (mode 0600)."""
    return configured.encode() if configured else _key_file(data_dir / "master.key")


@functools.lru_cache(maxsize=16)
def _key_file(path: Path) -> bytes:
    # Cached: board links and card QR codes are signed with keys derived from it on every live refresh.
    if not path.exists():
        private_folder(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
    return path.read_bytes().strip()


class KeyStore:
    def __init__(self, path: Path, master_key: bytes):
        self.path = path
        private_folder(path.parent)  # 0700, and keys.sqlite 0600
        self._master = Fernet(master_key)
        self._lock = threading.Lock()
        self._cache: dict[str, Fernet] = {}
        with self._connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS person_keys (subject TEXT PRIMARY KEY, wrapped BLOB NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA secure_delete = ON")  # an erased key is overwritten, not just unlinked
        return conn

    def _fernet(self, subject: str, *, create: bool) -> Fernet:
        with self._lock:
            if subject in self._cache:
                return self._cache[subject]
            with self._connect() as conn:
                row = conn.execute("SELECT wrapped FROM person_keys WHERE subject = ?", (subject,)).fetchone()
                if row is None:
                    if not create:
                        raise KeyErasedError(f"no key for {subject!r}: erased or never enrolled")
                    key = Fernet.generate_key()
                    conn.execute("INSERT INTO person_keys VALUES (?, ?)", (subject, self._master.encrypt(key)))
                else:
                    key = self._master.decrypt(row[0])
            self._cache[subject] = Fernet(key)
            return self._cache[subject]

    def encrypt(self, subject: str, data: bytes) -> str:
        return self._fernet(subject, create=True).encrypt(data).decode()

    def decrypt(self, subject: str, token: str) -> bytes:
        try:
            return self._fernet(subject, create=False).decrypt(token.encode())
        except InvalidToken as exc:
            raise KeyErasedError(f"data of {subject!r} cannot be decrypted with its key") from exc

    def erase(self, subject: str) -> bool:
        with self._lock:
            self._cache.pop(subject, None)
            with self._connect() as conn:
                gone = conn.execute("DELETE FROM person_keys WHERE subject = ?", (subject,)).rowcount
            with self._connect() as conn:
                conn.execute("VACUUM")
        return bool(gone)
