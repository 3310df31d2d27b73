"""Device simulator: signs and posts exactly what the firmware would.

    python -m receiver.simulate --device stage-1 --secret S ceremony --graduates 10 --gap 2 --on-stage 4
    python -m receiver.simulate --device cam-1 --secret S frames photo1.jpg photo2.jpg
    python -m receiver.simulate --device stage-1 --register ceremony    # register it in the local log first

Like the firmware: a random boot id, sequence numbers from 1, a retry re-signs the same events and
backs off (1 s doubling to 60 s), 4xx other than 429 drops the batch.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

import httpx

from receiver.signing import signed_headers


class SimulatedDevice:
    def __init__(self, url: str, device_id: str, secret: str, *, boot_id: str | None = None,
                 client: httpx.Client | None = None, max_tries: int = 8):
        self.url, self.device_id, self.secret = url.rstrip("/"), device_id, secret
        self.boot_id = boot_id or secrets.token_hex(4)
        self.seq = 0
        self.started = time.monotonic()
        self.client = client or httpx.Client(timeout=10)
        self.max_tries = max_tries

    def event(self, kind: str, payload: dict | None = None, ts_ms: int | None = None) -> dict:
        self.seq += 1
        return {"device_id": self.device_id, "boot_id": self.boot_id, "seq": self.seq, "kind": kind,
                "ts_ms": ts_ms or int(time.time() * 1000), "payload": payload or {}}

    def post(self, path: str, body: bytes, content_type: str) -> httpx.Response:
        """Post, retrying like the firmware: every try is signed anew."""
        delay = 1.0
        for attempt in range(1, self.max_tries + 1):
            headers = signed_headers(self.device_id, self.secret, "POST", path, body, int(time.time()))
            try:
                resp = self.client.post(self.url + path, content=body,
                                        headers={"Content-Type": content_type, **headers})
                if resp.status_code != 429 and resp.status_code < 500:
                    return resp
            except httpx.TransportError:
                if attempt == self.max_tries:
                    raise
            time.sleep(min(delay, 60))
            delay *= 2
        return resp

    def send(self, events: list[dict]) -> httpx.Response:
        body = json.dumps({"events": events}, separators=(",", ":")).encode()
        return self.post("/v1/events", body, "application/json")

    def heartbeat(self, queue_depth: int = 0) -> httpx.Response:
        beat = {"device_id": self.device_id, "boot_id": self.boot_id, "firmware": "sim-1.0",
                "uptime_s": int(time.monotonic() - self.started), "rssi": -60, "queue_depth": queue_depth,
                "free_heap": 180_000}
        return self.post("/v1/heartbeat", json.dumps(beat, separators=(",", ":")).encode(), "application/json")

    def frame(self, jpeg: bytes, captured_ms: int | None = None) -> httpx.Response:
        self.seq += 1
        captured = captured_ms or int(time.time() * 1000)
        return self.post(f"/v1/frames/{self.boot_id}/{self.seq}/{captured}", jpeg, "image/jpeg")


def run_ceremony(device: SimulatedDevice, graduates: int, gap: float, on_stage: float, no_shows: set[int],
                 log=print) -> None:
    """Graduates cross the front beam, stay on stage, cross the back beam; no-shows never arrive."""
    device.heartbeat()
    for n in range(1, graduates + 1):
        if n in no_shows:
            log(f"graduate {n}: does not arrive")
            continue
        log(f"graduate {n}: front beam -> {device.send([device.event('beam.front')]).status_code}")
        time.sleep(on_stage)
        log(f"graduate {n}: back beam  -> {device.send([device.event('beam.back')]).status_code}")
        time.sleep(gap)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m receiver.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="receiver base URL (default: from settings)")
    parser.add_argument("--device", required=True)
    parser.add_argument("--secret", default=os.environ.get("ROLLCALL_DEVICE_SECRET"))
    parser.add_argument("--register", action="store_true", help="register the device in the local log first")
    sub = parser.add_subparsers(dest="scenario", required=True)
    c = sub.add_parser("ceremony", help="front and back beams at a realistic pace")
    c.add_argument("--graduates", type=int, default=10)
    c.add_argument("--gap", type=float, default=2.0, help="seconds between graduates")
    c.add_argument("--on-stage", type=float, default=4.0, help="seconds between front and back beam")
    c.add_argument("--no-show", type=int, action="append", default=[], help="a graduate number who never comes")
    f = sub.add_parser("frames", help="post photos as ESP32-CAM frames")
    f.add_argument("photos", nargs="+")
    sub.add_parser("heartbeat", help="one heartbeat")
    args = parser.parse_args(argv)

    from core.config import get_settings

    settings = get_settings()
    url = args.url or f"http://{settings.receiver_host}:{settings.receiver_port}"
    secret = args.secret
    if args.register:
        from core import devices
        from core.eventlog import open_event_log

        log = open_event_log(settings)
        known = log.get_device(args.device)
        secret = known.secret if known else devices.add_device(log, args.device, "simulator", "simulated")
    if not secret:
        print("error: give --secret (or ROLLCALL_DEVICE_SECRET), or --register", file=sys.stderr)
        return 2
    device = SimulatedDevice(url, args.device, secret)
    if args.scenario == "ceremony":
        run_ceremony(device, args.graduates, args.gap, args.on_stage, set(args.no_show))
    elif args.scenario == "frames":
        for photo in args.photos:
            device.send([device.event("pir.trigger")])
            resp = device.frame(Path(photo).read_bytes())
            print(f"{photo}: {resp.status_code} {resp.text}")
    else:
        print(device.heartbeat().text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
