from datetime import date

import pytest

from core import auth
from core.db import READ_MODEL_TABLES
from core.demo import load_demo
from core.eventlog import Event
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
    """Slow events (a beam moving a ceremony folds in ~10 ms) made a 500-event batch one transaction of several
    seconds: an app killed sooner, again and again, never committed anything. Now a transaction ends after
    `max_transaction_seconds`, and a crash loses only the one under way."""
    from core import projections

    app.ingestor.max_transaction_seconds = 0.0  # every event its own transaction
    app.log.append([Event.new("class.upserted", {"class_id": f"K{n}", "name": f"K{n}"}) for n in range(5)])
    apply, seen = projections.apply, []

    def crash_on_the_fourth(cur, event):
        seen.append(event.id)
        if len(seen) == 4:
            raise KeyboardInterrupt  # like kill -9: no handler runs, the open transaction is lost
        apply(cur, event)

    monkeypatch.setattr(projections, "apply", crash_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        app.ingestor.pump()
    assert app.db.scalar("SELECT count(*) FROM classes") == 3  # committed before the crash
    monkeypatch.setattr(projections, "apply", apply)
    assert app.ingestor.pump() == 2 and app.ingestor.cursor() == app.log.head()
    assert sorted(app.db.query("SELECT class_id FROM classes")["class_id"]) == [f"K{n}" for n in range(5)]
