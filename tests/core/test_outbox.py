"""When the store is down, what a person has already seen is kept in the local outbox and appended later."""

from __future__ import annotations

import sqlite3

import pytest

from core.config import Settings
from core.eventlog import Event
from core.services import Rollcall
from tests.waiting import wait_until


@pytest.fixture
def quick(tmp_path):
    app = Rollcall(Settings(data_dir=tmp_path / "data", event_log_busy_timeout_seconds=0.2,
                            outbox_retry_seconds=0.05))
    yield app
    app.close()


def test_a_kept_event_survives_a_locked_store_and_is_folded_once_it_answers(quick):
    app = quick
    blocker = sqlite3.connect(app.settings.events_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the log: every append times out
    checkin = Event.new("class.upserted", {"class_id": "K1", "name": "Kept"}, actor="frames")
    with pytest.raises(sqlite3.OperationalError):
        app.submit(Event.new("class.upserted", {"class_id": "X", "name": "Not kept"}, actor="op"))
    result = app.submit(checkin, keep=True)
    assert result.queued == 1 and len(app.outbox) == 1
    blocker.execute("ROLLBACK")
    blocker.close()
    wait_until(lambda: len(app.outbox) == 0, "the outbox drained")
    app.ingestor.pump()
    assert app.db.scalar("SELECT name FROM classes WHERE class_id = 'K1'") == "Kept"
    assert app.db.scalar("SELECT count(*) FROM classes WHERE class_id = 'X'") == 0  # refused, not kept


def test_the_outbox_outlives_the_process_and_a_retry_is_a_duplicate(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", outbox_retry_seconds=0.05)
    first = Rollcall(settings)
    event = Event.new("class.upserted", {"class_id": "K2", "name": "Twice"}, actor="frames")
    first.outbox.put([event])
    first.log.append([event])  # it did reach the store before the failure was seen
    first.close()
    again = Rollcall(settings)  # a restart drains what the last run left
    try:
        wait_until(lambda: len(again.outbox) == 0, "the outbox drained after a restart")
        again.ingestor.pump()
        assert again.db.scalar("SELECT count(*) FROM classes WHERE class_id = 'K2'") == 1
        assert again.log.head() == 1
    finally:
        again.close()
