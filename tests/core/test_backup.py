"""The read model is disposable, the event log is not (issue #12): a damaged DuckDB file is set aside by
`rebuild`, and `backup` copies the log and the keys consistently while the app runs."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from contextlib import closing
from datetime import date

import pytest

from core.cli import main
from core.config import PROJECT_ROOT, Settings
from core.db import Database, DatabaseDamagedError
from core.demo import load_demo
from core.eventlog import Event
from core.services import Rollcall


def people_table(app: Rollcall) -> str:
    return app.db.query("SELECT * FROM people ORDER BY student_id").to_csv()


def all_events(app: Rollcall) -> list[tuple]:
    return [(s.position, s.event.id, s.event.kind, s.event.ts_ms, s.event.payload)
            for s in app.log.read_after(0, 1_000_000)]


def damage(path, how: str) -> None:
    data = path.read_bytes()
    damaged = {
        "garbage-header": b"\x13" * 4096 + data[4096:],
        "overwritten-magic": data[:8] + b"XXXX" + data[12:],
        "zeroed-database-headers": data[:4096] + bytes(8192) + data[12288:],
        "truncated": data[:5000],
        "empty-file": b"",
    }[how]
    path.write_bytes(damaged)


@pytest.mark.parametrize("how", ["garbage-header", "overwritten-magic", "zeroed-database-headers", "truncated",
                                 "empty-file"])
def test_rebuild_sets_a_damaged_read_model_aside_and_rebuilds_the_same_people(settings, how, capsys):
    app = Rollcall(settings)
    load_demo(app, today=date(2026, 11, 22))
    before, events = people_table(app), len(all_events(app))
    app.close()
    damage(settings.duckdb_path, how)
    damaged = settings.duckdb_path.read_bytes()
    with pytest.raises(DatabaseDamagedError, match="cannot be opened .*core.cli rebuild"):
        Database(settings.duckdb_path)
    assert main(["people", "--json"]) == 1  # every other command says what to do, in one line
    assert "core.cli rebuild" in capsys.readouterr().err

    assert main(["rebuild"]) == 0
    out = capsys.readouterr()
    [aside] = list(settings.data_path.glob("rollcall.duckdb.corrupt-*"))
    assert aside.read_bytes() == damaged  # kept for a look, not deleted
    assert f"moved aside to {aside.name}" in out.err and f"from {events} events" in out.out
    app = Rollcall(settings)
    try:
        assert people_table(app) == before and app.db.scalar("SELECT count(*) FROM people") > 0
    finally:
        app.close()


def test_rebuild_of_a_sound_read_model_moves_nothing(settings, capsys):
    app = Rollcall(settings)
    load_demo(app, today=date(2026, 11, 22))
    app.close()
    assert main(["rebuild"]) == 0
    assert "moved aside" not in capsys.readouterr().err
    assert not list(settings.data_path.glob("*.corrupt-*"))


def test_a_running_app_is_not_taken_for_a_damaged_file(settings, capsys):
    Rollcall(settings).close()
    # Another process holds the DuckDB file, as the running app does, until told to stop.
    script = ("import sys; from core.services import Rollcall; app = Rollcall(); "
              "print('ready', flush=True); sys.stdin.readline(); app.close()")
    holder = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "ROLLCALL_DATA_DIR": str(settings.data_path)})
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(["rebuild"]) == 1
        assert "in use by another process" in capsys.readouterr().err
        assert not list(settings.data_path.glob("*.corrupt-*"))
    finally:
        holder.communicate("stop\n", timeout=60)


def test_backup_while_the_app_runs_restores_the_same_events(settings, tmp_path, capsys):
    app = Rollcall(settings)  # stays open, appending, during the backup
    load_demo(app, today=date(2026, 11, 22))
    token = app.keys.encrypt("6501001", b"a face template")
    head_before = app.log.head()
    stop = threading.Event()

    def device_traffic() -> None:  # another writer (the receiver) keeps appending meanwhile
        n = 0
        while not stop.is_set():
            n += 1
            app.log.append([Event(id=f"stage-1:b:{n}", kind="beam.front", ts_ms=1_790_000_000_000 + n,
                                  actor="stage-1", source="device", payload={"device_id": "stage-1"})])

    writer = threading.Thread(target=device_traffic)
    writer.start()
    try:
        dest = tmp_path / "backup-1"
        assert main(["backup", str(dest)]) == 0
    finally:
        stop.set()
        writer.join()
    out = capsys.readouterr().out
    assert "events.sqlite" in out and "keys.sqlite" in out and "master.key" in out
    # A self-contained copy, as private as the data folder.
    assert sorted(p.name for p in dest.iterdir()) == ["events.sqlite", "keys.sqlite", "master.key", "outbox.sqlite"]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in dest.iterdir()} == {0o600}
    with closing(sqlite3.connect(dest / "events.sqlite")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        copied = conn.execute("SELECT count(*), max(position) FROM events").fetchone()
    original, people = all_events(app), people_table(app)
    app.close()
    # Consistent: exactly the log's first events, with nothing missing in between, and all that was there before.
    assert copied[0] == copied[1] >= head_before

    # Restore: the files into an empty data folder, then rebuild the read model from the log.
    restored = tmp_path / "restored"
    restored.mkdir(mode=0o700)
    for name in ("events.sqlite", "keys.sqlite", "master.key"):
        shutil.copy2(dest / name, restored / name)
    again = Rollcall(Settings(data_dir=restored))
    try:
        again.ingestor.rebuild()
        assert all_events(again) == original[:copied[0]]
        assert again.keys.decrypt("6501001", token) == b"a face template"
        assert people_table(again) == people
    finally:
        again.close()


def test_backup_refuses_a_folder_that_is_not_empty_or_inside_the_data_folder(settings, tmp_path, capsys):
    Rollcall(settings).close()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("x")
    assert main(["backup", str(busy)]) == 1
    assert "is not an empty folder" in capsys.readouterr().err
    assert main(["backup", str(settings.data_path / "backups")]) == 1
    assert "inside the data folder" in capsys.readouterr().err
    assert os.listdir(busy) == ["something"]
