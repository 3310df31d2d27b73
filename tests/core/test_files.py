"""The data folder is private (issue #12): 0700, every file in it 0600, the databases' later files included."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys

import pytest

from core.config import PROJECT_ROOT, Settings
from core.eventlog import Event, SQLiteEventLog
from core.files import loose_permissions
from core.services import Rollcall


@pytest.fixture
def usual_umask():
    """A process starts with the usual umask 022 (files 0644): the stores must not depend on it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(folder) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]}


def test_a_fresh_data_folder_is_private_with_every_file_in_it(tmp_path, usual_umask):
    data = tmp_path / "data"
    app = Rollcall(Settings(data_dir=data))  # makes the folder with a plain mkdir first, then opens the stores
    try:
        app.submit(Event.new("person.upserted", {"student_id": "6501001", "name": "Ann Lee"}, actor="test"))
        app.keys.encrypt("6501001", b"a template")  # keys.sqlite and master.key
        with app.db.write() as cur:  # DuckDB makes its .wal again after each checkpoint: still 0600
            cur.execute("CHECKPOINT")
        app.submit(Event.new("person.upserted", {"student_id": "6501002", "name": "Bob Ray"}, actor="test"))
        found = modes(data)
        assert {"events.sqlite", "events.sqlite-wal", "events.sqlite-shm", "rollcall.duckdb", "rollcall.duckdb.wal",
                "keys.sqlite", "master.key"} <= set(found), found
        assert found.pop(".") == 0o700
        assert {name: oct(mode) for name, mode in found.items() if mode != 0o600} == {}
        assert loose_permissions(data) == []
    finally:
        app.close()


def test_the_receivers_event_log_alone_is_private_too(tmp_path, usual_umask):
    log = SQLiteEventLog(tmp_path / "devices" / "events.sqlite")
    log.append([Event.new("beam.front", {"device_id": "stage-1"}, actor="stage-1")])
    found = modes(tmp_path / "devices")
    assert found.pop(".") == 0o700 and "events.sqlite-wal" in found
    assert set(found.values()) == {0o600}, found


def test_a_cli_process_with_the_usual_umask_makes_a_private_folder(tmp_path):
    data = tmp_path / "cli-data"
    env = {**os.environ, "ROLLCALL_DATA_DIR": str(data)}
    subprocess.run(["sh", "-c", f"umask 022 && exec {sys.executable} -m core.cli people --json"], cwd=PROJECT_ROOT,
                   env=env, check=True, capture_output=True, timeout=120)
    found = modes(data)
    assert found.pop(".") == 0o700 and "events.sqlite" in found and "rollcall.duckdb" in found
    assert set(found.values()) == {0o600}, found


def test_loose_permissions_are_listed_and_logged_at_start_up_but_not_changed(tmp_path, usual_umask, caplog):
    data = tmp_path / "old-install"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "events.sqlite").write_bytes(b"")
    (data / "events.sqlite").chmod(0o644)
    (data / "photos").mkdir()
    (data / "photos" / "x.enc").write_text("token")
    (data / "photos" / "x.enc").chmod(0o666)
    problems = loose_permissions(data)
    assert any(p.startswith(f"the data folder {data} is 0755: other users can read it (chmod 700 ") for p in problems)
    assert "events.sqlite is 0644: other users can read it (chmod 600 " in " | ".join(problems)
    assert any("photos/x.enc is 0666: other users can read and change it" in p for p in problems)
    with caplog.at_level(logging.WARNING, logger="core.files"):
        SQLiteEventLog(data / "events.sqlite")
    logged = [r.getMessage() for r in caplog.records if r.name == "core.files"]
    assert any("events.sqlite is 0644" in m for m in logged) and any("the data folder" in m for m in logged)
    # An existing installation keeps its modes (an admin may have reasons): it is told, not changed.
    assert stat.S_IMODE(data.stat().st_mode) == 0o755
    assert stat.S_IMODE((data / "events.sqlite").stat().st_mode) == 0o644
    for path in (data, data / "photos"):
        path.chmod(0o700)
    for path in (data / "events.sqlite", data / "events.sqlite-wal", data / "events.sqlite-shm",
                 data / "photos" / "x.enc"):
        if path.exists():
            path.chmod(0o600)
    assert loose_permissions(data) == []
    assert loose_permissions(tmp_path / "missing") == []
