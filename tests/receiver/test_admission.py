"""Admission: a limit per device (requests) and one across all devices (events), on an injected clock.

The real app (fastapi TestClient, lifespan run) over a real SQLite event log file; only time is faked, so a busy
machine cannot refill a bucket while the test is still sending.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from core import devices
from core.config import Settings
from core.eventlog import SQLiteEventLog
from receiver.app import TokenBucket, create_app, frame_cost, uvicorn_args, uvicorn_options
from receiver.signing import signed_headers
from tests.receiver.conftest import event


class FakeClock:
    """Monotonic seconds that move only when told (steps of binary fractions keep the arithmetic exact)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Rig:
    """A receiver app on a fake clock, with its event log opened beside it, and a signer for its devices."""

    def __init__(self, data_dir: Path, clock: FakeClock, **settings: object):
        self.settings = Settings(data_dir=data_dir, **settings)
        self.log = SQLiteEventLog(self.settings.events_path)
        self.secrets: dict[str, str] = {}
        self.clock = clock
        self.client = TestClient(create_app(self.settings, clock=clock))
        self._seq = 0

    def add(self, device_id: str) -> None:
        self.secrets[device_id] = devices.add_device(self.log, device_id, "test", role="any")

    def signed(self, device_id: str, path: str, body: bytes, content_type: str = "application/json") -> dict:
        return {"Content-Type": content_type,
                **signed_headers(device_id, self.secrets[device_id], "POST", path, body, int(time.time()))}

    def batch(self, device_id: str, n: int) -> bytes:
        events = []
        for _ in range(n):
            self._seq += 1
            events.append(event(self._seq, device=device_id))
        return json.dumps({"events": events}).encode()

    def send(self, device_id: str, n: int):
        body = self.batch(device_id, n)
        return self.client.post("/v1/events", content=body, headers=self.signed(device_id, "/v1/events", body))


@pytest.fixture
def rig(tmp_path) -> Iterator[Rig]:
    clock = FakeClock()
    # 10 events a second across all devices (bursts of 20); each device may send 100 requests a second.
    r = Rig(tmp_path / "data", clock, receiver_max_events_per_second=10, device_rate_per_second=100)
    r.add("stage-1")
    r.add("stage-2")
    with r.client:
        yield r
    r.log.close()


def refused_busy(resp) -> int:
    assert resp.status_code == 429, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert (body["status"], body["code"]) == (429, "receiver_busy") and body["detail"]
    return int(resp.headers["retry-after"])


def test_the_global_limit_counts_events_across_devices_and_resumes_with_time(rig):
    assert rig.send("stage-1", 12).status_code == 200  # 8 of the 20-event burst left
    assert rig.send("stage-2", 8).status_code == 200  # each device is far inside its own limit
    head = rig.log.head()
    # The very same signed request is refused, then taken once time has passed: a refusal consumes nothing.
    body = rig.batch("stage-1", 5)
    headers = rig.signed("stage-1", "/v1/events", body)
    assert refused_busy(rig.client.post("/v1/events", content=body, headers=headers)) == 1  # 5 events at 10/s
    assert refused_busy(rig.send("stage-2", 1)) == 1
    beat = json.dumps({"device_id": "stage-2", "boot_id": "b7", "firmware": "1.0.0", "uptime_s": 5, "rssi": -60,
                       "queue_depth": 0, "free_heap": 100_000}).encode()
    refused_busy(rig.client.post("/v1/heartbeat", content=beat, headers=rig.signed("stage-2", "/v1/heartbeat", beat)))
    assert rig.log.head() == head  # nothing of a refused request is stored
    rig.clock.advance(0.5)  # five tokens back
    resp = rig.client.post("/v1/events", content=body, headers=headers)
    assert resp.status_code == 200 and resp.json() == {"accepted": 5, "duplicates": 0}
    assert refused_busy(rig.send("stage-2", 1)) == 1
    rig.clock.advance(2)
    assert rig.send("stage-2", 20).status_code == 200  # the bucket refills up to its burst
    assert rig.log.head() == head + 25


def test_a_refused_batch_tells_how_long_to_wait(rig):
    assert rig.send("stage-1", 20).status_code == 200
    assert refused_busy(rig.send("stage-1", 20)) == 2  # 20 events at 10 a second
    rig.clock.advance(1.5)
    assert refused_busy(rig.send("stage-1", 20)) == 1
    rig.clock.advance(0.5)
    assert rig.send("stage-1", 20).status_code == 200


def test_frames_count_against_the_global_limit_by_size(tmp_path):
    noise = np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)  # noise does not compress
    jpeg = cv2.imencode(".jpg", noise)[1].tobytes()
    per_event = len(jpeg) // 6 + 1  # this frame counts as 6 events: one fits in the burst of 10, two do not
    assert frame_cost(len(jpeg), per_event) == 6 and frame_cost(1, per_event) == 1
    clock = FakeClock()
    rig = Rig(tmp_path / "data", clock, receiver_max_events_per_second=5, receiver_frame_bytes_per_event=per_event)
    rig.add("cam-1")
    with rig.client:
        def frame(seq: int):
            path = f"/v1/frames/b1/{seq}/{int(time.time() * 1000)}"
            return rig.client.post(path, content=jpeg, headers=rig.signed("cam-1", path, jpeg, "image/jpeg"))

        assert frame(1).status_code == 200
        head = rig.log.head()
        assert refused_busy(frame(2)) == 1  # 2 events short at 5 a second
        assert rig.log.head() == head
        clock.advance(0.5)
        assert frame(2).status_code == 200
    rig.log.close()


def test_rate_limit_per_device(tmp_path):
    clock = FakeClock()
    rig = Rig(tmp_path / "data", clock, device_rate_per_second=2)  # bursts of 4, then 2 a second
    rig.add("stage-1")
    rig.add("stage-2")
    with rig.client:
        codes = [rig.send("stage-1", 1).status_code for _ in range(6)]
        assert codes == [200] * 4 + [429] * 2
        limited = rig.send("stage-1", 1)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        assert limited.json()["code"] == "rate_limited"
        # Another device is not slowed down by the first one.
        assert rig.send("stage-2", 1).status_code == 200
        clock.advance(0.5)  # one request's worth
        assert [rig.send("stage-1", 1).status_code for _ in range(2)] == [200, 429]
    rig.log.close()


def test_token_bucket():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=20, clock=clock)
    assert bucket.take(15) == 0 and bucket.take(5) == 0
    assert bucket.take(1) == pytest.approx(0.1)
    clock.advance(1)
    assert bucket.take(11) == pytest.approx(0.1) and bucket.take(10) == 0
    # More than the burst can never be saved up: it passes on a full bucket and leaves a debt.
    clock.advance(10)
    assert bucket.take(50) == 0
    assert bucket.take(1) == pytest.approx(3.1)
    clock.advance(3.0)
    assert bucket.take(1) > 0
    clock.advance(0.5)
    assert bucket.take(1) == 0
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=0)


def test_uvicorn_options_are_real_uvicorn_settings():
    settings = Settings()
    options = uvicorn_options(settings)
    config = uvicorn.Config("receiver.app:app", **options)
    assert config.timeout_keep_alive == settings.receiver_keep_alive_seconds
    assert config.limit_concurrency == settings.receiver_limit_concurrency
    assert config.h11_max_incomplete_event_size == settings.receiver_max_header_bytes
    assert config.http == "h11"
    args = uvicorn_args(settings)
    assert args[args.index("--limit-concurrency") + 1] == str(settings.receiver_limit_concurrency)
    assert "--h11-max-incomplete-event-size" in args and "--timeout-keep-alive" in args
