from datetime import date

import pytest

from core import auth
from core.demo import load_demo
from core.eventlog import Event
from core.schema import READ_MODEL_TABLES
from core.services import Rollcall


def snapshot(app: Rollcall) -> dict:
    out = {}
    for table in READ_MODEL_TABLES:
        df = app.db.query(f"SELECT * FROM {table}")
        out[table] = df.sort_values(list(df.columns)).reset_index(drop=True).to_json()
    return out


def test_rebuild_gives_the_same_read_model(app):
    load_demo(app, today=date(2026, 11, 22))
    auth.create_user(app, "admin", "op1", "operator", password="one-time-pass")
    app.submit(Event.new("person.upserted", {"person": {"student_id": "6501001", "phone": "0899999999"},
                                             "reason": "typo"}, actor="op1"))
    app.submit(Event.new("person.deleted", {"student_id": "6501002"}, actor="op1"))
    before = snapshot(app)
    assert app.db.scalar("SELECT count(*) FROM people") == 59
    # Each attendance row carries its person's integer key (statistics count people by it).
    keys, ids = app.db.query("SELECT count(DISTINCT person_no), count(DISTINCT student_id) FROM attendance").values[0]
    assert keys == ids > 0
    assert app.db.scalar("SELECT count(*) FROM attendance a LEFT JOIN person_keys k USING (student_id) "
                         "WHERE a.person_no IS DISTINCT FROM k.person_no") == 0
    assert app.ingestor.rebuild() == app.log.head()
    assert snapshot(app) == before


def test_events_appended_by_another_process_are_ingested_once(app, settings):
    other = app.log.__class__(settings.events_path)  # e.g. the receiver or the CLI
    event = Event.new("class.upserted", {"class_id": "X1", "name": "Extra", "members": []}, actor="cli")
    other.append([event])
    other.append([event])
    assert app.ingestor.pump() == 1
    assert app.ingestor.pump() == 0
    assert app.db.scalar("SELECT count(*) FROM classes WHERE class_id = 'X1'") == 1
    assert app.db.scalar("SELECT count(*) FROM audit WHERE event_id = ?", [event.id]) == 1


def test_a_bad_event_is_recorded_and_does_not_block_the_rest(app):
    bad = Event.new("person.upserted", {"wrong": "shape"}, actor="x")
    good = Event.new("class.upserted", {"class_id": "C9", "name": "Fine"}, actor="x")
    app.submit(bad, good)
    assert app.db.scalar("SELECT count(*) FROM classes WHERE class_id = 'C9'") == 1
    assert app.db.scalar("SELECT kind FROM ingest_errors") == "person.upserted"
    assert app.ingestor.cursor() == app.log.head()


def test_ingestor_thread_follows_the_log(app, settings):
    import time

    app.ingestor.start(0.05)
    app.log.append([Event.new("class.upserted", {"class_id": "T1", "name": "Threaded"})])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not app.db.scalar("SELECT count(*) FROM classes"):
        time.sleep(0.05)
    assert app.db.scalar("SELECT name FROM classes") == "Threaded"


def test_demo_is_idempotent(app):
    first = load_demo(app, today=date(2026, 11, 22))
    assert first > 100
    assert load_demo(app, today=date(2026, 11, 22)) == 0
    assert app.db.scalar("SELECT count(*) FROM people") == 60
    assert app.db.scalar("SELECT count(*) FROM ceremony_entries") == 60
    thai = app.db.scalar("SELECT count(*) FROM people WHERE regexp_matches(name, '[ก-๙]')")
    assert 40 <= thai < 60


def test_a_long_batch_commits_as_it_goes_so_a_crash_keeps_the_progress(app, monkeypatch):
    """Slow events made a 500-event batch one transaction of several
    seconds: an app killed sooner, again and again, never committed anything. Now a transaction ends after
    `max_transaction_seconds`, and a crash loses only the one under way."""
    from core import projections

    app.ingestor.max_transaction_seconds = 0.0  # every event its own transaction
    app.log.append([Event.new("class.upserted", {"class_id": f"K{n}", "name": f"K{n}"}) for n in range(5)])
    add, seen = projections.Batch.add, []

    def crash_on_the_fourth(batch, event):
        seen.append(event.id)
        if len(seen) == 4:
            raise KeyboardInterrupt  # like kill -9: no handler runs, the open transaction is lost
        add(batch, event)

    monkeypatch.setattr(projections.Batch, "add", crash_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        app.ingestor.pump()
    assert app.db.scalar("SELECT count(*) FROM classes") == 3  # committed before the crash
    monkeypatch.setattr(projections.Batch, "add", add)
    assert app.ingestor.pump() == 2 and app.ingestor.cursor() == app.log.head()
    assert sorted(app.db.query("SELECT class_id FROM classes")["class_id"]) == [f"K{n}" for n in range(5)]


def test_a_staff_action_folds_up_to_its_own_event_and_leaves_later_device_traffic_to_the_background(app):
    """Staff never wait for device traffic that came after their action: catch_up stops at the action's position
    (what came before it must be folded first — the log's order is the read model's)."""
    before = [Event(id=f"dev:b:{n}", kind="beam.front", ts_ms=n, actor="stage-1", source="device",
                    payload={"device_id": "stage-1"}) for n in range(1, 51)]
    app.log.append(before)
    staff = Event.new("class.upserted", {"class_id": "S1", "name": "Staff"}, actor="op")
    position = app.log.append([staff]).position
    app.log.append([Event(id=f"dev:b:{n}", kind="beam.back", ts_ms=n, actor="stage-1", source="device",
                          payload={"device_id": "stage-1"}) for n in range(51, 2051)])
    assert app.ingestor.catch_up(position)
    assert app.ingestor.cursor() == position < app.log.head()
    assert app.db.scalar("SELECT name FROM classes WHERE class_id = 'S1'") == "Staff"
    assert app.db.scalar("SELECT count(*) FROM device_events") == 50  # the 2,000 after it wait for the background
    assert app.ingestor.pump() == 2000


def test_submit_returns_with_its_own_write_folded_while_the_background_ingestor_runs(app):
    app.ingestor.start(0.01)
    for n in range(20):
        app.log.append([Event(id=f"dev:c:{n}:{k}", kind="device.heartbeat", ts_ms=n, actor="cam", source="device",
                              payload={"device_id": "cam", "boot_id": "c", "firmware": "1", "uptime_s": n, "rssi": -1,
                                       "queue_depth": 0, "free_heap": 1}) for k in range(50)])
        app.submit(Event.new("class.upserted", {"class_id": f"K{n}", "name": f"K{n}"}, actor="op"))
        assert app.db.scalar("SELECT count(*) FROM classes WHERE class_id = ?", [f"K{n}"]) == 1


def test_compaction_keeps_what_was_folded_while_the_copy_was_made(app):
    """The read model is copied into a new file while folding goes on (nobody waits for the copy); what was folded
    into the old file after the copy's snapshot is folded again into the copy after the swap."""
    load_demo(app, today=date(2026, 11, 22))
    with app.db.write() as cur:  # worker cursors are not folded from the log: carried over as they are at the swap
        cur.execute("INSERT OR REPLACE INTO processor_state VALUES ('frames', 7)")
    copy = app.db.copy_aside

    def copy_then_more():
        path = copy()
        app.submit(Event.new("person.upserted", {"person": {"student_id": "6501001", "phone": "0812345678"},
                                                 "reason": "new phone"}, actor="op"))
        with app.db.write() as cur:
            cur.execute("UPDATE processor_state SET cursor = 9 WHERE name = 'frames'")
        return path

    app.db.copy_aside = copy_then_more
    app.ingestor.compact()
    assert app.db.scalar("SELECT phone FROM people WHERE student_id = '6501001'") == "0812345678"
    assert app.db.scalar("SELECT cursor FROM processor_state WHERE name = 'frames'") == 9
    assert app.ingestor.cursor() == app.log.head()
    assert not list(app.settings.data_path.glob("*.copy.duckdb*"))
    before = snapshot(app)
    app.ingestor.rebuild()
    assert snapshot(app) == before
