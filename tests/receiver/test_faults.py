"""kill -9 of the receiver ten times in the middle of a load: every acknowledged event is in the log once, the
app folds each once, and a rebuild from the log gives the same read model."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from core.config import Settings
from core.services import Rollcall
from tests.core.test_ingestor import snapshot
from tests.receiver.conftest import Receiver, event

KILLS = 10


def test_kill_9_ten_times_during_load_loses_no_acknowledged_event(live):
    r, secret = live
    batches = [[event(seq) for seq in range(start, start + 5)] for start in range(1, 1001, 5)]  # 1000 events
    acknowledged: list[str] = []
    sent = threading.Event()

    def device() -> None:
        # Like the firmware: keep a batch until it is acknowledged, re-sign every retry.
        for batch in batches:
            while True:
                try:
                    resp = r.post("/v1/events", {"events": batch}, "stage-1", secret)
                    if resp.status_code == 200:
                        acknowledged.extend(f"dev:stage-1:b7:{e['seq']}" for e in batch)
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            time.sleep(0.03)  # slow enough that the load outlasts the ten kills
        sent.set()

    loader = threading.Thread(target=device)
    loader.start()
    rng = random.Random(10)
    kills = 0
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.1, 0.6))  # a random moment: mid-request, mid-append or idle
        assert not sent.is_set(), "the load ended before the kills did"
        r.kill()
        kills += 1
        r.start()
    loader.join(timeout=180)
    assert kills == KILLS and sent.is_set()
    stored = [s.event.id for s in r.log.read_after(0, 100_000) if s.event.source == "device"]
    assert len(acknowledged) == 1000
    assert sorted(stored) == sorted(acknowledged)  # all there, and each once

    app = Rollcall(Settings(data_dir=r.data_dir))
    try:
        app.ingestor.pump()
        assert sorted(app.db.query("SELECT event_id FROM device_events")["event_id"]) == sorted(acknowledged)
        before = snapshot(app)
        assert app.ingestor.rebuild() == app.log.head()
        assert snapshot(app) == before
    finally:
        app.close()


def test_a_blocked_store_answers_503_in_time_and_healthz_still_answers(tmp_path):
    """Another process holds the event log's write lock: a device gets 503 + Retry-After within the store
    timeout (not after SQLite's 30 s busy wait), /healthz answers meanwhile, and after the lock is released
    the device's retry (re-signed, as the firmware does) is stored once."""
    r = Receiver(tmp_path / "data", {"ROLLCALL_RECEIVER_STORE_TIMEOUT_SECONDS": "1"})
    secret = r.add_device("stage-1")
    r.start()
    blocker = sqlite3.connect(r.data_dir / "events.sqlite", isolation_level=None)
    try:
        head = r.log.head()
        batch = {"events": [event(1), event(2)]}
        now = int(time.time())
        blocker.execute("BEGIN EXCLUSIVE")
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            pending = pool.submit(r.post, "/v1/events", batch, "stage-1", secret, ts=now)
            time.sleep(0.3)  # the POST is now waiting on the lock
            health = httpx.get(r.url + "/healthz", timeout=5)
            assert health.status_code == 200 and health.json()["status"] == "ok", health.text
            assert not pending.done()
            resp = pending.result(timeout=20)
            elapsed = time.monotonic() - started
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] == "event_log_unavailable" and int(resp.headers["retry-after"]) >= 1
        assert elapsed < 5, elapsed  # the 1 s store timeout, not SQLite's 30 s busy timeout
        blocker.execute("ROLLBACK")
        assert r.log.head() == head  # nothing acknowledged, nothing stored
        retry = r.post("/v1/events", batch, "stage-1", secret, ts=now + 1)
        assert retry.status_code == 200 and retry.json() == {"accepted": 2, "duplicates": 0}, retry.text
        assert [s.event.id for s in r.log.read_after(head)] == ["dev:stage-1:b7:1", "dev:stage-1:b7:2"]
        assert r.proc.poll() is None
    finally:
        blocker.close()
        r.stop()
