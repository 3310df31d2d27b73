"""The real receiver: uvicorn in a subprocess on a free loopback port, its own data folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core import devices
from core.config import PROJECT_ROOT, Settings
from core.eventlog import SQLiteEventLog
from receiver.app import uvicorn_args
from receiver.signing import signed_headers
from tests.browser.conftest import free_port, wait_http


class Receiver:
    def __init__(self, data_dir: Path, env_extra: dict | None = None):
        self.data_dir = data_dir
        self.env = {**os.environ, "ROLLCALL_DATA_DIR": str(data_dir), **(env_extra or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = SQLiteEventLog(data_dir / "events.sqlite")

    def start(self) -> Receiver:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "receiver.app:app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning", *uvicorn_args(Settings())], cwd=PROJECT_ROOT, env=self.env)
        wait_http(f"{self.url}/healthz", timeout=30)
        return self

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def add_device(self, device_id: str, role: str = "any") -> str:
        return devices.add_device(self.log, device_id, "test", role=role)

    def post(self, path: str, body: bytes | dict, device: str, secret: str, *, ts: int | None = None,
             content_type: str = "application/json", extra: dict | None = None,
             headers: dict | None = None) -> httpx.Response:
        raw = json.dumps(body, separators=(",", ":")).encode() if isinstance(body, dict) else body
        signed = headers or signed_headers(device, secret, "POST", path, raw, ts or int(time.time()))
        return httpx.post(self.url + path, content=raw, timeout=10,
                          headers={"Content-Type": content_type, **signed, **(extra or {})})


def event(seq: int, kind: str = "beam.front", device: str = "stage-1", boot: str = "b7", **payload) -> dict:
    return {"device_id": device, "boot_id": boot, "seq": seq, "kind": kind, "ts_ms": int(time.time() * 1000),
            "payload": payload}


@pytest.fixture
def receiver(tmp_path):
    r = Receiver(tmp_path / "data")
    yield r
    r.stop()


@pytest.fixture
def live(receiver):
    """A running receiver with one registered device: (receiver, secret)."""
    secret = receiver.add_device("stage-1")
    return receiver.start(), secret
