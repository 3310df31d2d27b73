"""Soak: a whole ceremony and a day's check-ins at an accelerated pace (prints figures; not a pass/fail test).

    .venv/bin/python -m bench.soak [--minutes 60] [--speed 30] [--graduates 360] [--checkins 1200] [--sample 2]

Real processes on loopback: the receiver (uvicorn) and the app (`streamlit run`) with a live board open — a
session that runs the board page every half second over the app's websocket, as a browser tab's timer does.
A simulated stage sensor posts signed front and back beams and heartbeats through the receiver for every
graduate of an auto-advancing ceremony; another writer appends check-ins (attendance events) into sessions
scheduled on the way. `--minutes` of ceremony run in minutes / speed of real time. Every `--sample` seconds the
RSS of both processes is read from /proc. `--app process` runs the app's start-up alone instead
(tests/app_process.py), which reports how far its ingestor is behind.

Printed: events and events/s, how far the app's ingestor fell behind, RSS start / end / max, growth after the
warm-up (the first quarter) and the trend over the second half, error lines in the logs, and a check that
every graduate was received and every check-in folded. Memory is called flat when, after the warm-up,
it grows by less than max(5 %, 15 MB) and the second half's trend is under 10 MB per real minute.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import numpy as np

from core import ceremonies, devices, people
from core.config import PROJECT_ROOT, Settings
from core.eventlog import Event, SQLiteEventLog
from core.roster import parse_roster
from core.runtime import open_app
from pages._ceremony_ui import LIVE_REFRESH_SECONDS
from receiver.simulate import SimulatedDevice
from tests.browser.conftest import free_port, wait_http
from tests.load import AppProcess, StreamlitApp, checkin_steps, rss_kb

ERROR_LINE = re.compile(r"Traceback|\bERROR\b|CRITICAL|Exception", re.IGNORECASE)
WARM_UP = 0.25  # the first quarter of the run: imports, caches, the first folds


@dataclass
class Samples:
    t: list[float] = field(default_factory=list)
    app_kb: list[int] = field(default_factory=list)
    receiver_kb: list[int] = field(default_factory=list)
    lag: list[int] = field(default_factory=list)  # events in the log not yet folded by the app


@dataclass
class Memory:
    start_mb: float
    end_mb: float
    max_mb: float
    growth_after_warm_up_mb: float
    trend_mb_per_min: float  # over the second half, per real minute
    quarters_mb: list[float]  # at 25, 50, 75 and 100 % of the run

    @property
    def flat(self) -> bool:
        after = self.end_mb - self.growth_after_warm_up_mb
        return self.growth_after_warm_up_mb < max(0.05 * after, 15) and self.trend_mb_per_min < 10

    def __str__(self) -> str:
        return (f"start {self.start_mb:6.1f} MB  end {self.end_mb:6.1f}  max {self.max_mb:6.1f}  "
                f"after warm-up {self.growth_after_warm_up_mb:+5.1f} MB  trend {self.trend_mb_per_min:+5.2f} MB/min  "
                f"(quarters {' / '.join(f'{q:.0f}' for q in self.quarters_mb)})  "
                f"→ {'flat' if self.flat else 'GROWING'}")


def memory(t: list[float], kb: list[int]) -> Memory:
    mb = np.array(kb) / 1024
    ts = np.array(t)
    warm = int(len(mb) * WARM_UP)
    half = len(mb) // 2
    trend = float(np.polyfit(ts[half:], mb[half:], 1)[0] * 60) if len(mb) - half >= 3 else 0.0
    quarters = [float(mb[min(len(mb) - 1, len(mb) * q // 4)]) for q in (1, 2, 3, 4)]
    return Memory(float(mb[0]), float(mb[-1]), float(mb.max()), float(mb[-1] - mb[warm]), trend, quarters)


@dataclass
class Result:
    real_seconds: float
    graduates: int
    received: int
    beams: int
    heartbeats: int
    checkins: int
    checkins_folded: int
    events_in_log: int
    drain_seconds: float | None  # with --app process: when the ingestor had caught up after the load
    max_lag: int | None  # with --app process: most events in the log not yet folded
    board_runs: list[float]  # with --app streamlit: how long each run of the live board took
    app: Memory
    receiver: Memory
    error_lines: list[str]
    ingest_errors: int

    @property
    def events_per_second(self) -> float:
        return (self.beams + self.heartbeats + self.checkins) / self.real_seconds

    def report(self) -> str:
        return "\n".join([
            (f"{self.real_seconds:.0f} s real: {self.graduates} graduates ({self.received} received), "
             f"{self.beams} beams + {self.heartbeats} heartbeats through the receiver, {self.checkins} check-ins "
             f"appended ({self.checkins_folded} folded); {self.events_per_second:.1f} events/s; "
             f"{self.events_in_log} events in the log"),
            (f"app ingestor: at most {self.max_lag} events behind; caught up {self.drain_seconds:.1f} s after the "
             f"load stopped; {self.ingest_errors} events it could not fold" if self.max_lag is not None else
             f"live board open throughout: {len(self.board_runs)} runs, p50 {np.median(self.board_runs) * 1000:.0f} "
             f"ms, p95 {np.percentile(self.board_runs, 95) * 1000:.0f} ms; the app had folded every event 2 s after "
             f"the load; {self.ingest_errors} events it could not fold"),
            f"RSS app      {self.app}",
            f"RSS receiver {self.receiver}",
            f"error lines in the logs: {len(self.error_lines)}"
            + "".join(f"\n  {line}" for line in self.error_lines[:10]),
        ])


def prepare(data: Path, graduates: int, students: int) -> tuple[str, str, list[str]]:
    """A roster, one class of every student, an auto-advancing ceremony of the first `graduates`, started and
    with the first graduate called. Returns (ceremony id, class id, members)."""
    rows = [f"69{n:05d},Graduate {n},Department {n % 7}" for n in range(1, max(graduates, students) + 1)]
    app = open_app(Settings(data_dir=data), workers=False)

    def roster(part: list[str]) -> None:
        if part:
            people.commit_import(app, parse_roster(("student id,name,department\n" + "\n".join(part)).encode(),
                                                   "soak.csv", max_rows=100_000), "soak")

    try:
        roster(rows[:graduates])  # the ceremony seats everyone on the roster: the graduates first, alone
        cid = ceremonies.create(app, "soak", name="Soak ceremony", on_date=date.today(), absent_timeout_min=60)
        roster(rows[graduates:])
        members = [r.split(",")[0] for r in rows[:students]]
        app.submit(Event.new("class.upserted", {"class_id": "SOAK", "name": "Soak", "members": members}, actor="soak"))
        ceremonies.act(app, "soak", cid, "ceremony.settings", auto_advance=True)
        ceremonies.act(app, "soak", cid, "ceremony.started")
        ceremonies.call_next(app, "soak", cid)
        return cid, "SOAK", members
    finally:
        app.close()


def run(*, minutes: float = 60, speed: float = 30, graduates: int = 360, checkins: int = 1200,
        sample: float = 2.0, work: Path | None = None, real_app: bool = True) -> Result:
    """With `real_app`, the app is `streamlit run` with a live board open (re-run every half second over its
    websocket, as the board's timer does); otherwise the app's start-up in a process that reports its
    ingestor's position (tests/app_process.py), which gives the ingest lag."""
    with tempfile.TemporaryDirectory() as tmp:
        work = work or Path(tmp)
        data = work / "data"
        cid, class_id, members = prepare(data, graduates, min(checkins, 600))
        log = SQLiteEventLog(data / "events.sqlite")
        secret = devices.add_device(log, "stage-soak", "soak")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "ROLLCALL_DATA_DIR": str(data), "ROLLCALL_DEVICE_RATE_PER_SECOND": "1000"}
        receiver_log = work / "receiver.log"
        with receiver_log.open("w") as out:
            receiver = subprocess.Popen([sys.executable, "-m", "uvicorn", "receiver.app:app", "--host", "127.0.0.1",
                                         "--port", str(port), "--log-level", "warning"], cwd=PROJECT_ROOT, env=env,
                                        stdout=out, stderr=subprocess.STDOUT)
        app = StreamlitApp(data, work / "app.log") if real_app else AppProcess(data, work / "app.log")
        board_runs: list[float] = []
        samples, counts = Samples(), {"beams": 0, "heartbeats": 0, "checkins": 0}
        stop = threading.Event()
        real = minutes * 60 / speed
        try:
            wait_http(f"{url}/healthz", timeout=60)
            app.start()
            started = time.monotonic()

            def stage() -> None:
                device = SimulatedDevice(url, "stage-soak", secret, client=httpx.Client(timeout=10), max_tries=50)
                per_graduate = real / graduates
                next_beat = 0.0
                for n in range(graduates):
                    due = started + n * per_graduate
                    time.sleep(max(0.0, due - time.monotonic()))
                    for kind, wait in (("beam.front", 0.4), ("beam.back", 0.6)):
                        assert device.send([device.event(kind)]).status_code == 200
                        counts["beams"] += 1
                        time.sleep(per_graduate * wait * 0.9)
                    if time.monotonic() >= next_beat:
                        assert device.heartbeat().status_code == 200
                        counts["heartbeats"] += 1
                        next_beat = time.monotonic() + 60 / speed  # every minute of ceremony time

            def checkin() -> None:
                step = checkin_steps(data / "events.sqlite", class_id, members, "soak")
                for n in range(checkins):
                    time.sleep(max(0.0, started + n * real / checkins - time.monotonic()))
                    step()
                    counts["checkins"] += 1

            def take_sample() -> None:
                if not real_app:
                    samples.lag.append(max(0, log.head() - app.cursor))
                samples.app_kb.append(app.rss_kb())
                samples.receiver_kb.append(rss_kb(receiver.pid))
                samples.t.append(time.monotonic() - started)

            def sampler() -> None:
                take_sample()
                while not stop.wait(sample):
                    take_sample()

            def board() -> None:
                token = ceremonies.view_token(Settings(data_dir=data), cid)
                board_runs.extend(app.watch(f"view=board&ceremony={cid}&token={token}", LIVE_REFRESH_SECONDS,
                                            board_stop))

            board_stop = threading.Event()
            work_threads = [stage, checkin, sampler] + ([board] if real_app else [])
            threads = [threading.Thread(target=f, daemon=True) for f in work_threads]
            for thread in threads:
                thread.start()
            threads[0].join(timeout=real * 3 + 120)
            threads[1].join(timeout=real + 120)
            load_done = time.monotonic()
            if real_app:
                time.sleep(2.0)  # four runs of the board, each folding what came in
                drain = None
            else:
                app.wait_for_cursor(log.head(), timeout=300)
                drain = time.monotonic() - load_done
            stop.set()
            board_stop.set()
            for thread in threads[2:]:
                thread.join(timeout=sample + 30)
            take_sample()
            elapsed = load_done - started
        finally:
            stop.set()
            try:
                app.stop()
            finally:
                receiver.terminate()
                receiver.wait(timeout=20)
        folded = open_app(Settings(data_dir=data), workers=False)
        try:
            received = folded.db.scalar("SELECT count(*) FROM ceremony_entries WHERE ceremony_id = ? "
                                        "AND status = 'received'", [cid])
            checkins_folded = folded.db.scalar("SELECT count(*) FROM attendance WHERE session_id LIKE 'soak-%'")
            ingest_errors = folded.db.scalar("SELECT count(*) FROM ingest_errors")
            assert folded.ingestor.pump() == 0  # the app had folded everything itself
        finally:
            folded.close()
        errors = [line.strip() for path in (receiver_log, work / "app.log")
                  for line in path.read_text().splitlines() if ERROR_LINE.search(line)]
        return Result(real_seconds=elapsed, graduates=graduates, received=received, beams=counts["beams"],
                      heartbeats=counts["heartbeats"], checkins=counts["checkins"], checkins_folded=checkins_folded,
                      events_in_log=log.head(), drain_seconds=drain, max_lag=max(samples.lag) if samples.lag else None,
                      board_runs=board_runs,
                      app=memory(samples.t, samples.app_kb), receiver=memory(samples.t, samples.receiver_kb),
                      error_lines=errors, ingest_errors=ingest_errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60, help="minutes of ceremony and check-ins to simulate")
    parser.add_argument("--speed", type=float, default=30, help="how many times faster than real time")
    parser.add_argument("--graduates", type=int, default=360)
    parser.add_argument("--checkins", type=int, default=1200)
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--app", choices=["streamlit", "process"], default="streamlit",
                        help="the real app with a live board open, or its start-up alone (reports ingest lag)")
    args = parser.parse_args()
    print(f"Simulating {args.minutes:g} min at {args.speed:g}× ({args.minutes * 60 / args.speed:.0f} s), "
          f"{os.cpu_count()} cores ...", flush=True)
    result = run(minutes=args.minutes, speed=args.speed, graduates=args.graduates, checkins=args.checkins,
                 sample=args.sample, real_app=args.app == "streamlit")
    print(result.report())


if __name__ == "__main__":
    main()
