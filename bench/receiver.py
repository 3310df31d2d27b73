"""Receiver throughput and latency on loopback (prints figures; not a pass/fail test).

    .venv/bin/python -m bench.receiver [--clients 4] [--seconds 10] [--batch 20]

Baseline in the same run: a bare FastAPI endpoint under the same uvicorn, so the ratio shows what
authentication, validation and the durable append cost. Goal (issue): ≥ 2,000 events/s and
p99 ≤ 25 ms on 2 cores with the local log.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from core import devices
from core.config import PROJECT_ROOT
from core.eventlog import SQLiteEventLog
from receiver.signing import signed_headers
from tests.browser.conftest import free_port, wait_http

BARE_APP = """
from fastapi import FastAPI, Request
app = FastAPI()
@app.post("/v1/events")
async def events(request: Request):
    await request.body()
    return {"accepted": 0, "duplicates": 0}
@app.get("/healthz")
async def health():
    return {"status": "ok"}
"""


def serve(module: str, env: dict, cwd: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", module, "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=cwd, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz")
    return proc, url


def load(url: str, secrets: dict[str, str], seconds: float, batch: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    counts: list[int] = []
    lock = threading.Lock()

    def client(device_id: str, secret: str) -> None:
        seq, sent, mine = 0, 0, []
        deadline = time.monotonic() + seconds
        with httpx.Client(timeout=10) as http:
            while time.monotonic() < deadline:
                events = []
                for _ in range(batch):
                    seq += 1
                    events.append({"device_id": device_id, "boot_id": "bench", "seq": seq, "kind": "beam.front",
                                   "ts_ms": int(time.time() * 1000), "payload": {}})
                body = json.dumps({"events": events}, separators=(",", ":")).encode()
                headers = {"Content-Type": "application/json",
                           **signed_headers(device_id, secret, "POST", "/v1/events", body, int(time.time()))}
                start = time.perf_counter()
                resp = http.post(url + "/v1/events", content=body, headers=headers)
                mine.append((time.perf_counter() - start) * 1000)
                if resp.status_code == 200:
                    sent += batch
        with lock:
            latencies.extend(mine)
            counts.append(sent)

    threads = [threading.Thread(target=client, args=item) for item in secrets.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        log = SQLiteEventLog(data / "events.sqlite")
        secrets = {f"bench-{n}": devices.add_device(log, f"bench-{n}", "bench") for n in range(args.clients)}
        (tmp / "bare_app.py").write_text(BARE_APP)
        env = {"ROLLCALL_DATA_DIR": str(data), "ROLLCALL_DEVICE_RATE_PER_SECOND": "100000",
               "PYTHONPATH": str(PROJECT_ROOT)}
        results = {}
        for name, module, cwd in (("bare FastAPI endpoint", "bare_app:app", tmp),
                                  ("receiver (signed, validated, appended)", "receiver.app:app", PROJECT_ROOT)):
            proc, url = serve(module, env, cwd)
            try:
                events, latencies = load(url, secrets, args.seconds, args.batch)
            finally:
                proc.terminate()
                proc.wait(timeout=20)
            results[name] = (events / args.seconds, len(latencies) / args.seconds,
                             np.percentile(latencies, 50), np.percentile(latencies, 99))
        stored = sum(1 for _ in log.read_after(0, 10**9) if _.event.source == "device")
    print(f"{args.clients} clients, batches of {args.batch} events, {args.seconds:.0f} s each, loopback, "
          f"{os.cpu_count()} cores (clients share them)")
    print(f"{'':42} {'events/s':>10} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8}")
    for name, (eps, rps, p50, p99) in results.items():
        print(f"{name:42} {eps:10,.0f} {rps:11,.0f} {p50:8.1f} {p99:8.1f}")
    bare, real = results.values()
    print(f"receiver / bare requests per second: {real[1] / bare[1]:.2f}")
    print(f"events stored in the log: {stored:,}")
    verdict = "met" if real[0] >= 2000 and real[3] <= 25 else "NOT met"
    print(f"Goal ≥ 2,000 events/s and p99 ≤ 25 ms: {verdict}")


if __name__ == "__main__":
    main()
