import subprocess
import sys

from core.config import PROJECT_ROOT
from core.eventlog import Device, Event, SQLiteEventLog

# Run by separate Python processes (not multiprocessing: AppTest replaces __main__ in this process).
WRITER = """
import sys
from core.eventlog import Event, SQLiteEventLog
log = SQLiteEventLog(sys.argv[1])
for i in range(int(sys.argv[3])):
    log.append([Event.new("test.ping", {"writer": sys.argv[2], "i": i})])
"""


def test_append_and_read_after_cursor(tmp_path):
    log = SQLiteEventLog(tmp_path / "events.sqlite")
    events = [Event.new("test.ping", {"i": i, "name": "สมชาย"}) for i in range(5)]
    assert log.append(events).accepted == 5
    first = log.read_after(0, limit=2)
    assert [s.event.payload["i"] for s in first] == [0, 1]
    rest = log.read_after(first[-1].position)
    assert [s.event.payload["i"] for s in rest] == [2, 3, 4]
    assert rest[0].event.payload["name"] == "สมชาย"
    assert log.head() == rest[-1].position
    assert log.read_after(log.head()) == []


def test_repeated_event_id_is_ignored(tmp_path):
    log = SQLiteEventLog(tmp_path / "events.sqlite")
    event = Event.new("test.ping", {"i": 1})
    assert (log.append([event]).accepted, log.append([event]).duplicates) == (1, 1)
    mixed = log.append([event, Event.new("test.ping", {"i": 2})])
    assert (mixed.accepted, mixed.duplicates) == (1, 1)
    assert len(log.read_after(0)) == 2


def test_concurrent_appends_from_two_processes_lose_nothing(tmp_path):
    path = str(tmp_path / "events.sqlite")
    SQLiteEventLog(path).close()  # create the schema once
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, path, name, "300"], cwd=PROJECT_ROOT)
               for name in ("a", "b")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    stored = SQLiteEventLog(path).read_after(0, limit=10_000)
    assert len(stored) == 600
    for name in ("a", "b"):
        assert sorted(s.event.payload["i"] for s in stored if s.event.payload["writer"] == name) == list(range(300))
    positions = [s.position for s in stored]
    assert positions == sorted(positions) and len(set(positions)) == 600


def test_device_registry(tmp_path):
    log = SQLiteEventLog(tmp_path / "events.sqlite")
    log.put_device(Device("stage-1", "s3cret", True, 1000, "front of stage"))
    log.put_device(Device("stage-1", "s3cret", False, 1000, "front of stage"))
    assert log.get_device("stage-1").enabled is False
    assert log.get_device("nope") is None
    assert [d.device_id for d in log.list_devices()] == ["stage-1"]
