"""kill -9 of the receiver ten times in the middle of a load: every acknowledged event is in the log once, the
app folds each once, and a rebuild from the log gives the same read model."""

from __future__ import annotations

import random
import threading
import time

import httpx

from core.config import Settings
from core.services import Rollcall
from tests.core.test_ingestor import snapshot
from tests.receiver.conftest import event

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
                        acknowledged.extend(f"stage-1:b7:{e['seq']}" for e in batch)
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
