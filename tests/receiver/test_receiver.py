"""The receiver over real HTTP: each refusal has the right status and appends nothing."""

from __future__ import annotations

import json
import time

import cv2
import httpx
import numpy as np

from core import devices
from core.config import Settings
from core.services import Rollcall
from tests.receiver.conftest import event


def problem(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["code"] == code and body["status"] == status and body["detail"]


def test_a_batch_is_accepted_and_stored_with_stable_ids(live):
    r, secret = live
    resp = r.post("/v1/events", {"events": [event(n) for n in range(1, 21)]}, "stage-1", secret)
    assert resp.status_code == 200 and resp.json() == {"accepted": 20, "duplicates": 0}
    stored = r.log.read_after(0)
    ids = [s.event.id for s in stored if s.event.source == "device"]
    assert ids == [f"dev:stage-1:b7:{n}" for n in range(1, 21)]
    assert stored[-1].event.kind == "beam.front" and stored[-1].event.actor == "stage-1"


def test_a_retried_event_is_a_duplicate_stored_once(live):
    r, secret = live
    body = {"events": [event(1), event(2, "rfid.scan", tag="04a1b2c3")]}
    assert r.post("/v1/events", body, "stage-1", secret).json() == {"accepted": 2, "duplicates": 0}
    time.sleep(1.01)  # the firmware re-signs a retry: a new timestamp, a new signature
    assert r.post("/v1/events", body, "stage-1", secret).json() == {"accepted": 0, "duplicates": 2}
    device_events = [s.event for s in r.log.read_after(0) if s.event.source == "device"]
    assert len(device_events) == 2 and device_events[1].payload["tag"] == "04A1B2C3"


def test_refusals_append_nothing(live):
    r, secret = live
    other_secret = r.add_device("stage-2")
    devices.set_enabled(r.log, "stage-2", False, "test")
    head = r.log.head()
    good = {"events": [event(1)]}
    raw = json.dumps(good).encode()
    now = int(time.time())
    wrong_secret = r.post("/v1/events", good, "stage-1", "not-the-secret")
    problem(wrong_secret, 401, "bad_signature")
    problem(r.post("/v1/events", good, "stage-1", secret, ts=now - 3600), 401, "stale_timestamp")
    # An unknown device gets the very same answer as a wrong signature: no probing for registered ids.
    for ghost in ("ghost", "not a valid id!"):
        unknown = r.post("/v1/events", good, ghost, secret)
        problem(unknown, 401, "bad_signature")
        assert unknown.json() == wrong_secret.json()
    problem(r.post("/v1/events", {"events": [event(1, device="stage-2")]}, "stage-2", other_secret), 403,
            "device_revoked")
    problem(r.post("/v1/events", {"events": [event(1, device="stage-2")]}, "stage-1", secret), 403, "wrong_device")
    problem(r.post("/v1/events", raw, "stage-1", secret, content_type="text/plain"), 415, "wrong_content_type")
    problem(r.post("/v1/events", b'{"events": [', "stage-1", secret), 422, "invalid_body")
    problem(r.post("/v1/events", {"events": [{**event(1), "kind": "beam.sideways"}]}, "stage-1", secret), 422,
            "invalid_body")
    problem(r.post("/v1/events", {"events": [{**event(1), "extra": 1}]}, "stage-1", secret), 422, "invalid_body")
    problem(r.post("/v1/events", {"events": [event(1, "beam.front", tag="x")]}, "stage-1", secret), 422,
            "invalid_body")
    problem(r.post("/v1/events", {"events": [{**event(1), "ts_ms": 1000}]}, "stage-1", secret), 422, "bad_clock")
    big = {"events": [event(n) for n in range(1, 3000)]}
    problem(r.post("/v1/events", big, "stage-1", secret), 413, "body_too_large")
    problem(r.post("/v1/events", {"events": [event(n) for n in range(1, 102)]}, "stage-1", secret), 413,
            "batch_too_large")
    resp = httpx.post(r.url + "/v1/events", content=raw, headers={"Content-Type": "application/json"})
    problem(resp, 401, "unsigned")
    assert r.log.head() == head


def test_the_exact_same_signed_request_twice_is_a_replay(live):
    r, secret = live
    raw = json.dumps({"events": [event(1)]}).encode()
    from receiver.signing import signed_headers

    headers = signed_headers("stage-1", secret, "POST", "/v1/events", raw, int(time.time()))
    assert r.post("/v1/events", raw, "stage-1", secret, headers=headers).status_code == 200
    head = r.log.head()
    problem(r.post("/v1/events", raw, "stage-1", secret, headers=headers), 409, "replayed_request")
    assert r.log.head() == head


def test_frames_must_be_jpeg_and_their_metadata_is_signed(live):
    r, secret = live
    jpeg = cv2.imencode(".jpg", np.full((240, 320, 3), 90, np.uint8))[1].tobytes()
    path = f"/v1/frames/cam1/5/{int(time.time() * 1000)}"
    head = r.log.head()
    problem(r.post(path, b"GIF89a not a jpeg", "stage-1", secret, content_type="image/jpeg"), 422, "not_a_jpeg")
    problem(r.post(path, jpeg[: len(jpeg) // 2], "stage-1", secret, content_type="image/jpeg"), 422, "not_a_jpeg")
    # Signed for one path, sent to another (a changed sequence number): refused.
    from receiver.signing import signed_headers

    forged = signed_headers("stage-1", secret, "POST", path, jpeg, int(time.time()))
    problem(r.post(path.replace("/5/", "/6/"), jpeg, "stage-1", secret, content_type="image/jpeg",
                   headers=forged), 401, "bad_signature")
    assert r.log.head() == head
    resp = r.post(path, jpeg, "stage-1", secret, content_type="image/jpeg")
    assert resp.status_code == 200 and resp.json()["accepted"] == 1
    [stored] = r.log.read_after(head)
    assert stored.event.id == "dev:stage-1:cam1:5" and stored.event.kind == "frame.captured"


def test_heartbeats_feed_device_health(live):
    r, secret = live
    beat = {"device_id": "stage-1", "boot_id": "b7", "firmware": "1.0.0", "uptime_s": 120, "rssi": -61,
            "queue_depth": 3, "free_heap": 150000}
    assert r.post("/v1/heartbeat", beat, "stage-1", secret).json() == {"accepted": 1, "duplicates": 0}
    r.post("/v1/events", {"events": [event(1)]}, "stage-1", secret)
    app = Rollcall(Settings(data_dir=r.data_dir))  # the app's ingestor folds what the receiver appended
    try:
        app.ingestor.pump()
        status = devices.overview(app).set_index("device_id").loc["stage-1"]
        assert (status["firmware"], status["rssi"], status["queue_depth"]) == ("1.0.0", -61, 3)
        assert list(devices.recent_events(app, "stage-1")["kind"]) == ["beam.front"]
    finally:
        app.close()


def test_health_and_openapi(live):
    r, _ = live
    assert httpx.get(r.url + "/healthz").json()["status"] == "ok"
    spec = httpx.get(r.url + "/openapi.json").json()
    assert {"/v1/events", "/v1/heartbeat", "/v1/frames/{boot_id}/{seq}/{captured_ms}", "/healthz"} <= set(spec["paths"])
    assert "$defs" not in json.dumps(spec)


def test_odd_digits_in_headers_are_refused_cleanly(live):
    r, _ = live
    raw = json.dumps({"events": [event(1)]}).encode()
    # b"\xb2" arrives as "²" (headers are Latin-1): str.isdigit() says yes, int() says no.
    for stamp in (b"\xb2", "１７".encode(), b"12.5", b"-1", b"9" * 40):
        resp = httpx.post(r.url + "/v1/events", content=raw, headers={
            "Content-Type": "application/json", "X-Device-Id": "stage-1", "X-Timestamp": stamp, "X-Signature": "ab"})
        assert resp.status_code == 401, (stamp, resp.text)


def test_frame_capture_times_get_the_same_window_as_event_times(live):
    r, secret = live
    jpeg = cv2.imencode(".jpg", np.full((120, 160, 3), 90, np.uint8))[1].tobytes()
    head = r.log.head()
    now_ms = int(time.time() * 1000)
    day_and_more = 25 * 3600_000  # device_clock_skew_hours is 24
    for captured in (2**53, 0, now_ms - day_and_more, now_ms + day_and_more):  # 2**53 ms is the year 287396
        resp = r.post(f"/v1/frames/cam1/7/{captured}", jpeg, "stage-1", secret, content_type="image/jpeg")
        problem(resp, 422, "bad_clock")
        assert "captured_ms" in resp.json()["detail"]
    assert r.log.head() == head
    ok = r.post(f"/v1/frames/cam1/7/{now_ms - 3600_000}", jpeg, "stage-1", secret, content_type="image/jpeg")
    assert ok.status_code == 200 and ok.json()["accepted"] == 1, ok.text


def test_non_ascii_in_any_signing_header_is_a_401_not_a_crash(live):
    r, secret = live
    raw = json.dumps({"events": [event(1)]}).encode()
    from receiver.signing import signed_headers

    good = {k: v.encode() for k, v in signed_headers("stage-1", secret, "POST", "/v1/events", raw,
                                                        int(time.time())).items()}
    head = r.log.head()
    for name, value in [("X-Signature", "é".encode() * 64), ("X-Signature", good["X-Signature"][:-1] + b"\xe9"),
                        ("X-Signature", "ü".encode("latin-1") + good["X-Signature"][1:]),
                        ("X-Device-Id", "stäge-1".encode()), ("X-Device-Id", b"stage-1\xff"),
                        ("X-Timestamp", "١٧".encode())]:
        resp = httpx.post(r.url + "/v1/events", content=raw, timeout=10,
                          headers={"Content-Type": "application/json", **good, name: value})
        assert resp.status_code == 401, (name, value, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] in ("bad_signature", "bad_timestamp")
    assert r.log.head() == head
    assert r.proc.poll() is None
