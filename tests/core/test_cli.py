"""The command line as a user runs it: real subprocesses on a data folder of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from core.config import PROJECT_ROOT


@pytest.fixture
def run(settings):
    env = {**os.environ, "ROLLCALL_DATA_DIR": str(settings.data_path)}

    def _run(*args: str, check_ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        if check_ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    _run.env = env
    return _run


def test_bootstrap_prints_the_admin_one_time_password_once(run):
    first = run("bootstrap")
    assert "one-time password" in first.stdout and "Loaded demo data" in first.stdout
    second = run("bootstrap")
    assert "one-time password" not in second.stdout and "Loaded demo data" not in second.stdout


def test_import_roster_then_list_people_as_json(run, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_bytes("รหัสนักศึกษา,ชื่อ-นามสกุล,ชื่อภาษาอังกฤษ\n6609001,ปวีณา ทองคำ,Paweena Thongkham\n"
                       "6609002,John Smith,\n".encode("cp874"))
    out = run("import-roster", str(roster))
    assert "Imported 2 rows: 2 new, 0 updated." in out.stdout
    listed = json.loads(run("people", "--json").stdout)
    assert {p["student_id"]: p["name"] for p in listed} == {"6609001": "ปวีณา ทองคำ", "6609002": "John Smith"}


def test_import_roster_with_bad_rows_exits_non_zero_and_names_them(run, tmp_path):
    roster = tmp_path / "bad.csv"
    roster.write_text("student id,name,phone\n6609001,A Person,0812345678\n6609001,Twin,0812345678\n"
                      "6609003,Phone Bad,12ab\n", encoding="utf-8")
    out = run("import-roster", str(roster), check_ok=False)
    assert out.returncode == 2
    assert "bad.csv: row 3, student_id" in out.stderr and "row 2" in out.stderr
    assert "bad.csv: row 4, phone: '12ab' is not a phone number" in out.stderr
    assert json.loads(run("people", "--json").stdout) == []


def test_import_of_a_non_spreadsheet_fails_clearly(run, tmp_path):
    junk = tmp_path / "photo.xlsx"
    junk.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))
    out = run("import-roster", str(junk), check_ok=False)
    assert out.returncode == 1 and "photo.xlsx" in out.stderr and "Traceback" not in out.stderr
    missing = run("import-roster", str(tmp_path / "nope.csv"), check_ok=False)
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_while_the_app_holds_duckdb(run, settings, tmp_path):
    run("demo")
    app_like = ("import time; from core.services import Rollcall; r = Rollcall(); "
                "print('ready', flush=True); r.ingestor.start(0.1); time.sleep(60)")
    holder = subprocess.Popen(
        [sys.executable, "-c", app_like],
        cwd=PROJECT_ROOT, env=run.env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        people = run("people", "--json", check_ok=False)
        assert people.returncode == 1 and "in use by another process" in people.stderr
        assert "Traceback" not in people.stderr
        rebuild = run("rebuild", check_ok=False)
        assert rebuild.returncode == 1 and "is the app running?" in rebuild.stderr
        # An import goes through the log; the running app's ingestor folds it in.
        roster = tmp_path / "late.csv"
        roster.write_text("student id,name\n6609009,Late Comer\n", encoding="utf-8")
        queued = run("import-roster", str(roster))
        assert "Queued 1 rows" in queued.stdout
        time.sleep(1)
    finally:
        holder.terminate()
        holder.wait(timeout=20)
    assert "Late Comer" in run("people", "--search", "late").stdout


def test_rebuild_replays_the_log(run):
    run("demo")
    before = run("people", "--json").stdout
    assert "Rebuilt the read model from" in run("rebuild").stdout
    assert run("people", "--json").stdout == before
