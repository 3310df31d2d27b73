"""The firmware's own signing code (built on the host) produces requests the real receiver accepts, byte for byte."""

from __future__ import annotations

import time

import httpx

from tests.firmware.test_firmware import sign_request


def post_exact(url: str, out: dict) -> httpx.Response:
    return httpx.post(url + out["path"], content=out["body"].encode(),
                      headers={"Content-Type": "application/json", **out["headers"]}, timeout=10)


def test_firmware_signed_events_and_heartbeat_are_accepted(live):
    r, secret = live
    now = int(time.time())
    common = ["--secret", secret, "--device", "stage-1", "--boot", "1a2b3c4d", "--timestamp", str(now)]
    beams = sign_request(*common, "--seq", "1", "--ts-ms", str(now * 1000), "--count", "20", "--kind", "beam.front")
    resp = post_exact(r.url, beams)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"accepted": 20, "duplicates": 0}
    rfid = sign_request(*common, "--seq", "21", "--ts-ms", str(now * 1000), "--count", "1", "--kind", "rfid.scan",
                        "--tag", "04A1B2C3")
    assert post_exact(r.url, rfid).json() == {"accepted": 1, "duplicates": 0}
    beat = sign_request(*common, "--heartbeat", "--firmware", "1.0.0", "--uptime-s", "42", "--rssi", "-61")
    assert post_exact(r.url, beat).status_code == 200
    stored = [s.event for s in r.log.read_after(0) if s.event.source == "device"]
    assert [e.id for e in stored[:2]] == ["dev:stage-1:1a2b3c4d:1", "dev:stage-1:1a2b3c4d:2"]
    assert stored[20].payload["tag"] == "04A1B2C3" and stored[-1].kind == "device.heartbeat"
    # One flipped byte and the receiver refuses it.
    tampered = {**beams, "body": beams["body"].replace('"seq":1,', '"seq":9,', 1)}
    assert post_exact(r.url, tampered).status_code == 401
