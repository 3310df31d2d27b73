"""Load for the fault and soak runs: a signed device through the real receiver, check-ins appended to the log
by another writer, and the app that folds them — the real `streamlit run`, or the same start-up in a process that
reports its ingestor's position (tests/app_process.py) — which can be killed and restarted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from core.attendance import attendance_event
from core.config import PROJECT_ROOT
from core.eventlog import Event, SQLiteEventLog
from receiver.simulate import SimulatedDevice


def run_apart(coroutine):
    """asyncio.run on a thread of its own: in a pytest run the sync Playwright driver of the browser tests keeps
    an event loop running on the main thread, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class _Killable:
    proc: subprocess.Popen

    def kill(self) -> None:
        """kill -9, then wait until it is gone (DuckDB has one writer: the next one starts only after)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.kill()

    def rss_kb(self) -> int:
        return rss_kb(self.proc.pid)


class AppProcess(_Killable):
    """`python -m tests.app_process`: the app's store, ingestor and workers in a process of its own."""

    def __init__(self, data_dir: Path, log_file: Path):
        self.env = {**os.environ, "ROLLCALL_DATA_DIR": str(data_dir)}
        self.log_file = log_file
        self.proc: subprocess.Popen | None = None
        self.cursor = -1
        self._ready = threading.Event()

    def start(self, timeout: float = 60) -> AppProcess:
        self._ready.clear()
        self.cursor = -1
        with self.log_file.open("a") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.app_process"], cwd=PROJECT_ROOT, env=self.env,
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the app process did not start")
        return self

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            if line.startswith("ready"):
                self._ready.set()
            elif line.startswith("cursor ") and proc is self.proc:
                self.cursor = int(line.split()[1])

    def wait_for_cursor(self, position: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.cursor < position:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the app stayed at {self.cursor}, the log is at {position}")
            time.sleep(0.1)


class StreamlitApp(_Killable):
    """The real app: `streamlit run streamlit_app.py` on a free loopback port. Streamlit runs the script only for
    a session, so `start` opens one over the app's websocket, as a browser tab does, and waits for the first
    run to finish (`get_app()` has then opened the store and started the ingestor and the workers)."""

    def __init__(self, data_dir: Path, log_file: Path):
        from tests.browser.conftest import free_port

        self.env = {**os.environ, "ROLLCALL_DATA_DIR": str(data_dir)}
        self.log_file = log_file
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> StreamlitApp:
        from tests.browser.conftest import wait_http

        with self.log_file.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(self.port),
                 "--server.address", "127.0.0.1", "--server.headless", "true"],
                cwd=PROJECT_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        wait_http(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=timeout)
        run_apart(asyncio.wait_for(self._first_run(), timeout))
        return self

    async def _first_run(self) -> None:
        import websockets

        async with websockets.connect(f"ws://127.0.0.1:{self.port}/_stcore/stream") as ws:
            await _run_page(ws, "")

    def watch(self, query_string: str, every: float, stop: threading.Event) -> list[float]:
        """A browser tab on one page, run again every `every` seconds (as a live board's timer does) until
        `stop`; returns how long each run took."""
        import websockets

        took: list[float] = []

        async def tab() -> None:
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/_stcore/stream", max_size=2**26) as ws:
                while not stop.is_set():
                    started = time.monotonic()
                    await _run_page(ws, query_string)
                    took.append(time.monotonic() - started)
                    await asyncio.sleep(max(0.0, every - took[-1]))

        run_apart(tab())
        return took


async def _run_page(ws, query_string: str) -> None:
    """Ask for a run of the page (what a browser sends on load or rerun) and wait until it has finished."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    rerun = BackMsg()
    rerun.rerun_script.query_string = query_string
    await ws.send(rerun.SerializeToString())
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await ws.recv())
        if msg.WhichOneof("type") == "script_finished":
            return


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Loader(threading.Thread):
    """Calls `step()` until stopped; `step` returns the ids it got acknowledged (a transport error is retried)."""

    def __init__(self, step: Callable[[], list[str]], pause: float):
        super().__init__(daemon=True)
        self.step, self.pause = step, pause
        self.acknowledged: list[str] = []
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.acknowledged.extend(self.step())
            except Exception as exc:  # noqa: BLE001 - recorded and asserted on by the caller
                self.errors.append(repr(exc))
            self._halt.wait(self.pause)

    def stop(self) -> None:
        self._halt.set()
        if self.ident is not None:  # started
            self.join(timeout=60)


def device_steps(url: str, device_id: str, secret: str, batch: int = 5) -> Callable[[], list[str]]:
    """Beams in batches, like the stage sensor: a batch is kept and re-signed until it is acknowledged."""
    device = SimulatedDevice(url, device_id, secret, client=httpx.Client(timeout=10), max_tries=1000)
    kinds = ("beam.front", "beam.back")

    def step() -> list[str]:
        events = [device.event(kinds[(device.seq + n) % 2]) for n in range(batch)]
        resp = device.send(events)
        if resp.status_code != 200:
            raise AssertionError(f"{resp.status_code} {resp.text}")
        return [f"dev:{device_id}:{device.boot_id}:{e['seq']}" for e in events]

    return step


def checkin_steps(events_path: Path, class_id: str, members: list[str], tag: str) -> Callable[[], list[str]]:
    """Another writer (a second app instance, the CLI): sessions scheduled and people checked in, one by one."""
    log = SQLiteEventLog(events_path)
    state = {"n": 0}

    def step() -> list[str]:
        n = state["n"]
        state["n"] += 1
        session = f"{tag}-{n // len(members)}"
        now = int(time.time() * 1000)
        out = []
        if n % len(members) == 0:
            scheduled = Event(id=f"{tag}:session:{session}", kind="session.scheduled", ts_ms=now, actor="load",
                              payload={"session_id": session, "class_id": class_id, "starts_at_ms": now - 60_000,
                                       "ends_at_ms": now + 3_600_000, "late_after_min": 10})
            log.append([scheduled])
            out.append(scheduled.id)
        checkin = attendance_event(session, members[n % len(members)], "present", now, "face", "load", score=0.7)
        log.append([checkin])
        return [*out, checkin.id]

    return step
