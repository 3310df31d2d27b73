"""The one start-up (core/runtime.py): what the app process runs beside the pages, started and stopped for real."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from core.config import Settings, get_settings
from core.eventlog import Event, open_event_log
from core.runtime import open_app, start_workers
from core.services import Rollcall
from tests.core.test_alerts import face_jpeg
from tests.telegram_fake import CHAT, telegram_env
from tests.waiting import wait_until

WORKERS = {"rollcall-ingestor", "rollcall-frames", "rollcall-ceremony-clock", "rollcall-retention", "rollcall-alerts",
           "rollcall-family-messages"}


def running() -> Counter[str]:
    """How many threads of each worker are alive (other tests' apps may still be running theirs)."""
    return Counter(t.name for t in threading.enumerate() if t.is_alive() and t.name in WORKERS)


@pytest.fixture
def started(tmp_path, telegram, monkeypatch):
    # the families' channel switched on
    for name, value in {**telegram_env(telegram), "FAMILY_MESSAGES": "true", "FAMILY_CHAT_ID": "-100777",
                        "DATA_DIR": str(tmp_path / "data"), "INGEST_POLL_SECONDS": "0.05"}.items():
        monkeypatch.setenv(f"ROLLCALL_{name}", value)
    get_settings.cache_clear()
    app = open_app()
    yield app
    app.close()
    get_settings.cache_clear()


def test_the_app_runs_every_worker_and_close_stops_them_all(started):
    app = started
    others = running() - Counter(WORKERS)  # threads of apps other tests left open, if any
    assert running() - others == Counter(WORKERS)  # one of each
    start_workers(app)  # a second start (a rerun of the page script) starts nothing more
    assert running() - others == Counter(WORKERS)
    app.close()
    wait_until(lambda: not running() - others, "every worker stopped")


def test_device_traffic_appended_by_another_process_shows_up_without_a_page_asking(started):
    app = started
    receiver_log = open_event_log(app.settings)  # the receiver's own handle on the log
    try:
        receiver_log.append([Event.new("class.upserted", {"class_id": "R1", "name": "From a device", "members": []},
                                       actor="receiver")])
    finally:
        receiver_log.close()
    wait_until(lambda: app.db.scalar("SELECT count(*) FROM classes WHERE class_id = 'R1'") == 1,
               "the ingestor folded the receiver's event")


def test_the_one_alert_sender_is_the_apps_and_it_sends(started, telegram):
    app = started
    assert app.alerts is not None and app.alerts in app.workers and app.alerts.enabled
    assert app.alerts.offer("track-1", face_jpeg(), source="Room 301")
    [photo] = telegram.wait_for_photos(1)
    assert photo.chat_id == CHAT and "Room 301" in photo.caption


def test_without_workers_nothing_runs_and_the_face_service_still_loads_on_demand(tmp_path):
    app = open_app(Settings(data_dir=tmp_path / "data"), workers=False)
    try:
        assert app.alerts is None and app.workers == [] and not app.ingestor._thread
        assert app.loaded_faces is None  # nothing loaded until someone asks
    finally:
        app.close()


def test_a_bare_store_says_how_to_get_the_face_service(tmp_path):
    store = Rollcall(Settings(data_dir=tmp_path / "data"))
    try:
        with pytest.raises(RuntimeError, match="core.runtime.open_app"):
            _ = store.faces
    finally:
        store.close()
