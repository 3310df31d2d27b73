"""Every receiver route × every way a caller may not write: each is refused with its problem and appends nothing.

One real receiver (uvicorn on loopback) for the module; three devices: `dev-a` (enabled), `dev-b` (enabled, the
one `dev-a` pretends to be) and `dev-off` (revoked).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import httpx
import numpy as np
import pytest

from core import devices
from receiver.signing import signed_headers
from tests.receiver.conftest import Receiver

_seq = itertools.count(1)
JPEG = cv2.imencode(".jpg", np.full((120, 160, 3), 90, np.uint8))[1].tobytes()


@dataclass(frozen=True)
class Route:
    name: str
    content_type: str
    request: Callable[[str, str], tuple[str, bytes]]  # (device named in the body, boot) -> (path, body)


def _events(device: str, boot: str) -> tuple[str, bytes]:
    event = {"device_id": device, "boot_id": boot, "seq": next(_seq), "kind": "beam.front",
             "ts_ms": int(time.time() * 1000), "payload": {}}
    return "/v1/events", json.dumps({"events": [event]}).encode()


def _heartbeat(device: str, boot: str) -> tuple[str, bytes]:
    beat = {"device_id": device, "boot_id": boot, "firmware": "1.0.0", "uptime_s": next(_seq), "rssi": -60,
            "queue_depth": 0, "free_heap": 100_000}
    return "/v1/heartbeat", json.dumps(beat).encode()


def _frame(_device: str, boot: str) -> tuple[str, bytes]:
    # No device id in a frame's path or body: the signed X-Device-Id is the only one it can have.
    return f"/v1/frames/{boot}/{next(_seq)}/{int(time.time() * 1000)}", JPEG


ROUTES = [Route("events", "application/json", _events), Route("heartbeat", "application/json", _heartbeat),
          Route("frames", "image/jpeg", _frame)]


@pytest.fixture(scope="module")
def rx(tmp_path_factory):
    r = Receiver(tmp_path_factory.mktemp("refusals") / "data")
    secrets = {d: r.add_device(d) for d in ("dev-a", "dev-b", "dev-off")}
    devices.set_enabled(r.log, "dev-off", False, "test")
    r.start()
    yield r, secrets
    r.stop()


def send(r: Receiver, route: Route, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(r.url + path, content=body, timeout=10, headers={"Content-Type": route.content_type, **headers})


def refused(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert (body["status"], body["code"]) == (status, code) and body["detail"], body


def _unsigned(r, route, secrets):
    path, body = route.request("dev-a", "b1")
    return send(r, route, path, body, {}), 401, "unsigned"


def _half_signed(r, route, secrets):  # an id and a time but no signature
    path, body = route.request("dev-a", "b1")
    return send(r, route, path, body, {"X-Device-Id": "dev-a", "X-Timestamp": str(int(time.time()))}), 401, "unsigned"


def _bad_signature(r, route, secrets):
    path, body = route.request("dev-a", "b1")
    return send(r, route, path, body, signed_headers("dev-a", "not-the-secret", "POST", path, body,
                                                     int(time.time()))), 401, "bad_signature"


def _unknown_device(r, route, secrets):
    path, body = route.request("ghost", "b1")
    # The same public answer as a bad signature (the server log keeps the reason): ids cannot be probed.
    return send(r, route, path, body, signed_headers("ghost", secrets["dev-a"], "POST", path, body,
                                                     int(time.time()))), 401, "bad_signature"


def _revoked_device(r, route, secrets):
    path, body = route.request("dev-off", "b1")
    return send(r, route, path, body, signed_headers("dev-off", secrets["dev-off"], "POST", path, body,
                                                     int(time.time()))), 403, "device_revoked"


def _claims_other_in_header(r, route, secrets):
    """Signed with A's secret, X-Device-Id says B (and the body too): A does not know B's secret."""
    path, body = route.request("dev-b", "b1")
    return send(r, route, path, body, signed_headers("dev-b", secrets["dev-a"], "POST", path, body,
                                                     int(time.time()))), 401, "bad_signature"


def _claims_other_in_body(r, route, secrets):
    """Properly signed by A, but the body names B."""
    path, body = route.request("dev-b", "b1")
    return send(r, route, path, body, signed_headers("dev-a", secrets["dev-a"], "POST", path, body,
                                                     int(time.time()))), 403, "wrong_device"


def _stale(r, route, secrets):
    path, body = route.request("dev-a", "b1")
    return send(r, route, path, body, signed_headers("dev-a", secrets["dev-a"], "POST", path, body,
                                                     int(time.time()) - 3600)), 401, "stale_timestamp"


def _from_the_future(r, route, secrets):
    path, body = route.request("dev-a", "b1")
    return send(r, route, path, body, signed_headers("dev-a", secrets["dev-a"], "POST", path, body,
                                                     int(time.time()) + 3600)), 401, "stale_timestamp"


def _signed_for_another_path(r, route, secrets):
    path, body = route.request("dev-a", "b1")
    other, _ = route.request("dev-a", "b2")
    return send(r, route, other, body, signed_headers("dev-a", secrets["dev-a"], "POST", path, body,
                                                      int(time.time()))), 401, "bad_signature"


def _replay(r, route, secrets):
    """The very same signed request twice: the first is taken, the second refused (and appends nothing)."""
    path, body = route.request("dev-a", "b1")
    headers = signed_headers("dev-a", secrets["dev-a"], "POST", path, body, int(time.time()))
    first = send(r, route, path, body, headers)
    assert first.status_code == 200 and first.json()["accepted"] == 1, first.text
    return send(r, route, path, body, headers), 409, "replayed_request"


LIMITS = {"/v1/events": 256_000, "/v1/heartbeat": 4096, "/v1/frames": 700_000}  # core/config.py, receiver/app.py


def _oversized(r, route, secrets):
    path, body = route.request("dev-a", "b1")
    limit = next(v for k, v in LIMITS.items() if path.startswith(k))
    body = body[:-2] + b" " * (limit + 1 - len(body)) + body[-2:]  # still well-formed, one byte too long
    return send(r, route, path, body, signed_headers("dev-a", secrets["dev-a"], "POST", path, body,
                                                     int(time.time()))), 413, "body_too_large"


CASES = {
    "unsigned": _unsigned, "half-signed": _half_signed, "bad-signature": _bad_signature,
    "unknown-device": _unknown_device, "revoked-device": _revoked_device,
    "A-signs-claims-B-in-header": _claims_other_in_header, "A-signs-claims-B-in-body": _claims_other_in_body,
    "stale-timestamp": _stale, "future-timestamp": _from_the_future, "path-changed": _signed_for_another_path,
    "replay": _replay, "oversized": _oversized,
}
# A frame names no device but the signed header's, so "claims B in the body" cannot be said on that route.
MATRIX = [(route, case) for route in ROUTES for case in CASES
          if not (route.name == "frames" and case == "A-signs-claims-B-in-body")
          and not (route.name != "frames" and case == "path-changed")]


@pytest.mark.parametrize(("route", "case"), MATRIX, ids=[f"{r.name}-{c}" for r, c in MATRIX])
def test_each_route_refuses_each_caller_that_may_not_write(rx, route, case):
    r, secrets = rx
    before = r.log.head()
    resp, status, code = CASES[case](r, route, secrets)
    refused(resp, status, code)
    after = r.log.head()
    assert after - before == (1 if case == "replay" else 0)  # only the first of the two replayed requests
    assert r.proc.poll() is None


def test_what_a_device_writes_is_stored_under_its_own_id_only(rx):
    r, secrets = rx
    before = r.log.head()
    for route in ROUTES:
        path, body = route.request("dev-a", "b9")
        resp = send(r, route, path, body, signed_headers("dev-a", secrets["dev-a"], "POST", path, body,
                                                         int(time.time())))
        assert resp.status_code == 200, resp.text
    stored = r.log.read_after(before)
    assert len(stored) == 3
    assert all(s.event.actor == "dev-a" and s.event.id.startswith("dev:dev-a:") for s in stored)
    assert {s.event.payload["device_id"] for s in stored} == {"dev-a"}


@pytest.mark.parametrize("headers", [
    {}, {"X-Device-Id": "ghost", "X-Timestamp": "1", "X-Signature": "00"},
    {"X-Device-Id": "dev-off", "X-Timestamp": str(int(time.time())), "X-Signature": "ab"},
], ids=["anonymous", "unknown-device", "revoked-device"])
def test_healthz_tells_anyone_only_that_it_is_up_and_takes_nothing(rx, headers):
    r, secrets = rx
    before = r.log.head()
    resp = httpx.get(r.url + "/healthz", headers=headers, timeout=10)
    assert resp.status_code == 200 and set(resp.json()) == {"status", "event_log_head"}
    assert not any(secret in resp.text for secret in secrets.values())
    _, body = _events("dev-a", "b1")
    signed = signed_headers("dev-a", secrets["dev-a"], "POST", "/healthz", body, int(time.time()))
    for method in ("POST", "PUT", "DELETE"):
        write = httpx.request(method, r.url + "/healthz", content=body, timeout=10,
                              headers={"Content-Type": "application/json", **signed})
        assert write.status_code == 405, (method, write.text)
    assert r.log.head() == before


def test_no_route_takes_a_get_or_an_unknown_method(rx):
    r, _ = rx
    before = r.log.head()
    for path in ("/v1/events", "/v1/heartbeat", "/v1/frames/b1/1/1"):
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            assert httpx.request(method, r.url + path, timeout=10).status_code == 405, (method, path)
    assert httpx.post(r.url + "/v1/admin", timeout=10).status_code == 404
    assert r.log.head() == before


def test_a_device_posts_only_what_its_role_allows(receiver):
    """A door camera must not drive the ceremony, a stage sensor must not post faces: 403, nothing stored."""
    from tests.receiver.conftest import event

    camera = receiver.add_device("door-cam", role="camera")
    stage = receiver.add_device("stage-9", role="stage")
    receiver.start()
    head = receiver.log.head()
    beam = receiver.post("/v1/events", {"events": [event(1, device="door-cam")]}, "door-cam", camera)
    assert beam.status_code == 403 and beam.json()["code"] == "not_allowed_for_role"
    rfid = receiver.post("/v1/events", {"events": [event(1, "rfid.scan", device="stage-9", tag="04A1B2C3")]},
                         "stage-9", stage)
    assert rfid.status_code == 403
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
    frame = receiver.post("/v1/frames/b1/1/" + str(int(time.time() * 1000)), jpeg, "stage-9", stage,
                          content_type="image/jpeg")
    assert frame.status_code == 403
    assert receiver.log.head() == head
    ok = receiver.post("/v1/events", {"events": [event(2, device="stage-9")]}, "stage-9", stage)
    assert ok.status_code == 200 and receiver.log.head() > head


def test_a_device_cannot_take_the_id_of_a_check_in(receiver):
    """A device named `attendance` posting boot = a session id and seq = a student id used to store an event under
    the id of that person's check-in, so the real check-in was dropped as a duplicate."""
    from core.attendance import attendance_event
    from tests.receiver.conftest import event

    secret = receiver.add_device("attendance")
    receiver.start()
    forged = event(6501001, device="attendance", boot="CPE401-2026-11-23-0900")
    assert receiver.post("/v1/events", {"events": [forged]}, "attendance", secret).status_code == 200
    real = attendance_event("CPE401-2026-11-23-0900", "6501001", "present", int(time.time() * 1000), "face", "op")
    assert receiver.log.append([real]).accepted == 1


def test_enabling_a_revoked_device_issues_a_new_secret(receiver):
    """It was revoked because its secret may be known: the old secret must never work again."""
    from core import devices
    from tests.receiver.conftest import event

    old = receiver.add_device("stage-5", role="stage")
    receiver.start()
    devices.set_enabled(receiver.log, "stage-5", False, "test", "board stolen")
    new = devices.set_enabled(receiver.log, "stage-5", True, "test", "found it")
    assert new and new != old
    stale = receiver.post("/v1/events", {"events": [event(1, device="stage-5")]}, "stage-5", old)
    assert stale.status_code == 401
    assert receiver.post("/v1/events", {"events": [event(1, device="stage-5")]}, "stage-5", new).status_code == 200
