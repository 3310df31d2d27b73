"""kill -9 of the receiver in the middle of a load: every acknowledged event is in the log, once."""

from __future__ import annotations

import threading
import time

import httpx

from tests.receiver.conftest import event


def test_kill_9_during_load_loses_no_acknowledged_event(live):
    r, secret = live
    batches = [[event(seq) for seq in range(start, start + 5)] for start in range(1, 301, 5)]  # 300 events
    acknowledged: list[str] = []
    done = threading.Event()

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
        done.set()

    loader = threading.Thread(target=device)
    loader.start()
    for _ in range(3):
        time.sleep(0.4)
        r.kill()
        r.start()
    loader.join(timeout=120)
    assert done.is_set()
    stored = [s.event.id for s in r.log.read_after(0, 10_000) if s.event.source == "device"]
    assert len(acknowledged) == 300
    assert sorted(stored) == sorted(acknowledged)  # all there, and each once
