"""The event-log contract, run against both back-ends: local SQLite and the real Firestore emulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from core.config import PROJECT_ROOT
from core.eventlog import Device, Event, SQLiteEventLog

# Separate Python processes (not multiprocessing: AppTest replaces __main__ in this process).
WRITER = """
import sys
from core.config import Settings
from core.eventlog import Event, open_event_log
log = open_event_log(Settings(data_dir=sys.argv[1]))
for i in range(int(sys.argv[3])):
    log.append([Event.new("test.ping", {"writer": sys.argv[2], "i": i})])
"""

# Appends 1-3 events at a time (a batch is one append), tagged with the writer and a running index.
BATCH_WRITER = """
import random, sys
from core.config import Settings
from core.eventlog import Event, open_event_log
log = open_event_log(Settings(data_dir=sys.argv[1]))
rng, i, n = random.Random(sys.argv[2]), 0, int(sys.argv[3])
while i < n:
    k = min(rng.randint(1, 3), n - i)
    log.append([Event.new("test.ping", {"writer": sys.argv[2], "i": i + j}) for j in range(k)])
    i += k
"""


@pytest.fixture(params=["local", "firestore"])
def backend(request, tmp_path, monkeypatch):
    """(open_log, env for other processes) for one back-end, each test in a fresh namespace."""
    env = {"ROLLCALL_DATA_DIR": str(tmp_path / "data")}
    if request.param == "firestore":
        emulator = request.getfixturevalue("firestore_emulator")
        env |= {**emulator.env(), "ROLLCALL_FIRESTORE_PREFIX": f"t{uuid.uuid4().hex[:8]}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from core.config import Settings
    from core.eventlog import open_event_log

    opened = []

    def open_log():
        opened.append(open_event_log(Settings()))
        return opened[-1]

    yield open_log, env
    for log in opened:
        log.close()


def test_append_and_read_after_cursor(backend):
    log = backend[0]()
    events = [Event.new("test.ping", {"i": i, "name": "สมชาย"}) for i in range(5)]
    assert log.append(events).accepted == 5
    first = log.read_after(0, limit=2)
    assert [s.event.payload["i"] for s in first] == [0, 1]
    rest = log.read_after(first[-1].position)
    assert [s.event.payload["i"] for s in rest] == [2, 3, 4]
    assert rest[0].event.payload["name"] == "สมชาย" and rest[0].event.kind == "test.ping"
    assert log.head() == rest[-1].position
    assert log.read_after(log.head()) == []


def test_repeated_event_id_is_ignored(backend):
    log = backend[0]()
    event = Event.new("test.ping", {"i": 1})
    assert (log.append([event]).accepted, log.append([event]).duplicates) == (1, 1)
    mixed = log.append([event, Event.new("test.ping", {"i": 2}), event])
    assert (mixed.accepted, mixed.duplicates) == (1, 2)
    assert len(log.read_after(0)) == 2


def test_rewrite_replaces_events_in_place(backend, tmp_path):
    log = backend[0]()
    events = [Event(id=f"attendance:S1:650100{i}", kind="attendance.recorded", ts_ms=i, actor="cam",
                    payload={"student_id": f"650100{i}", "name": "สมชาย ใจดี"}) for i in range(3)]
    log.append(events)
    positions = [s.position for s in log.read_after(0)]
    new = Event(id="attendance:S1:erased-1", kind="attendance.recorded", ts_ms=1, actor="cam",
                payload={"student_id": "erased-1"})
    assert log.rewrite({"attendance:S1:6501001": new, "no-such-event": new}) == 1
    stored = log.read_after(0)
    assert [s.position for s in stored] == positions  # same places, same order
    assert [s.event.id for s in stored] == ["attendance:S1:6501000", "attendance:S1:erased-1", "attendance:S1:6501002"]
    assert stored[1].event.payload == {"student_id": "erased-1"}
    if isinstance(log, SQLiteEventLog):  # the old bytes are gone from the file, not just unlinked
        raw = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("events.sqlite*"))
        assert b"6501001" not in raw and b"6501002" in raw
    assert log.append([events[1]]).accepted == 1  # the old id is free again


def test_concurrent_appends_from_two_processes_lose_nothing(backend):
    open_log, env = backend
    firestore = env.get("ROLLCALL_EVENT_LOG_BACKEND") == "firestore"
    n = 300 if not firestore else 40
    open_log().head()  # create the store once
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, env["ROLLCALL_DATA_DIR"], name, str(n)],
                                cwd=PROJECT_ROOT, env={**os.environ, **env}) for name in ("a", "b")]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    stored = open_log().read_after(0, limit=10_000)
    assert len(stored) == 2 * n
    for name in ("a", "b"):
        assert sorted(s.event.payload["i"] for s in stored if s.event.payload["writer"] == name) == list(range(n))
    positions = [s.position for s in stored]
    if firestore:  # one total order; positions come from commit times, so they have gaps
        assert positions == sorted(set(positions)) and positions[0] > 0
    else:
        assert positions == list(range(1, 2 * n + 1))  # one total order, no gaps


def test_a_reader_following_concurrent_writers_sees_every_event_once_in_order(backend):
    open_log, env = backend
    n, names = 60, ("a", "b", "c")
    reader = open_log()
    reader.head()  # create the store once
    writers = [subprocess.Popen([sys.executable, "-c", BATCH_WRITER, env["ROLLCALL_DATA_DIR"], name, str(n)],
                                cwd=PROJECT_ROOT, env={**os.environ, **env}) for name in names]
    seen, cursor, deadline = [], 0, time.monotonic() + 300
    try:
        while True:
            finished = all(w.poll() is not None for w in writers)  # before the read: then it sees all
            batch = reader.read_after(cursor, limit=7)  # small pages: cursors land inside milliseconds
            assert all(s.position > cursor for s in batch)
            seen += batch
            cursor = batch[-1].position if batch else cursor
            if finished and not batch:
                break
            assert time.monotonic() < deadline, f"the reader is stuck at {len(seen)} events"
            if not batch:
                time.sleep(0.02)  # idle: leave the machine to the writers
    finally:
        for w in writers:
            w.wait(timeout=60)
    assert [w.returncode for w in writers] == [0, 0, 0]
    full = open_log().read_after(0, limit=10_000)
    assert [(s.position, s.event.id) for s in seen] == [(s.position, s.event.id) for s in full]
    assert len({s.event.id for s in full}) == len(full) == n * len(names)
    for name in names:  # each writer's appends keep the order it made them in
        assert [s.event.payload["i"] for s in full if s.event.payload["writer"] == name] == list(range(n))


def test_append_result_position_covers_the_appended_events(backend):
    log = backend[0]()
    appends = [[Event.new("test.ping", {"a": a, "i": i}) for i in range(a % 4 + 1)] for a in range(12)]
    results = [log.append(events) for events in appends]
    again = log.append(appends[3] + appends[7])  # duplicates only: still covered
    stored = {s.event.id: s.position for s in log.read_after(0)}
    assert len(stored) == sum(map(len, appends))
    for events, result in zip(appends, results, strict=True):
        assert result.accepted == len(events)
        assert all(0 < stored[e.id] <= result.position for e in events)
    assert (again.accepted, again.duplicates) == (0, len(appends[3]) + len(appends[7]))
    assert max(stored[e.id] for e in appends[3] + appends[7]) <= again.position
    # Each is a real position, so a reader that reads until its cursor reaches it stops there, with every event
    # of that append read (and no need to wait for later appends).
    assert {r.position for r in [*results, again]} <= set(stored.values())
    cursor, read = 0, set()
    while cursor < results[5].position:
        batch = log.read_after(cursor, limit=3)
        read |= {s.event.id for s in batch}
        cursor = batch[-1].position
    assert {e.id for events in appends[:6] for e in events} <= read


def test_device_registry_and_request_memory(backend):
    log = backend[0]()
    log.put_device(Device("stage-1", "s3cret", True, 1000, "front of stage"))
    log.put_device(Device("stage-1", "s3cret", False, 1000, "front of stage"))
    assert log.get_device("stage-1").enabled is False
    assert log.get_device("nope") is None
    assert [d.device_id for d in log.list_devices()] == ["stage-1"]
    assert log.remember_request("stage-1:abc", 10**13) is True
    assert log.remember_request("stage-1:abc", 10**13) is False


def test_the_app_ingests_from_either_back_end(backend, tmp_path):
    from datetime import date

    from core.config import Settings
    from core.demo import load_demo
    from core.services import Rollcall

    app = Rollcall(Settings())
    try:
        assert load_demo(app, today=date(2026, 11, 22)) > 100
        assert app.db.scalar("SELECT count(*) FROM people") == 60
        stored = app.log.read_after(0, limit=100_000)
        assert app.log.head() == stored[-1].position
        assert app.ingestor.rebuild() == len(stored)
        assert app.db.scalar("SELECT count(*) FROM ceremony_entries") == 60
    finally:
        app.close()


def test_sqlite_file_survives_reopen(tmp_path):
    path = tmp_path / "events.sqlite"
    SQLiteEventLog(path).append([Event.new("test.ping", {})])
    assert SQLiteEventLog(path).head() == 1
