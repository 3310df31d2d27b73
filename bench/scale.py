"""The data path at scale (prints figures; not a pass/fail test).

    .venv/bin/python -m bench.scale [--events 100000] [--rebuild-events 1000000] [--skip-rebuild]

1. Fold: a mixed log (core/workload.py: check-ins, a running ceremony's calls, beams and RFID scans,
   enrollments, roster rows, heartbeats, staff corrections) folded from the local event log into DuckDB by
   the ingestor, set-based, against the same events folded one at a time (the baseline, same run).
2. Staff while devices post: a device thread appends 1,000 beams/heartbeats a second to the log (as the
   receiver would) while the background ingestor folds them; a staff thread calls the next graduate or
   corrects a record every 0.2 s through `Rollcall.submit`: how long until each is in DuckDB.
3. Rebuild of a large log: events/s, time, extrapolation to 1,000,000 events, and the peak RSS of the process.
4. Erasure of one person on that log.

Goals (issue #16): fold >= 5,000 mixed events/s; a staff action in DuckDB <= 300 ms p95 at 1,000 device
events/s; rebuild of 1,000,000 events <= 5 min with RSS < 1.5 GB; erasure on a 100,000-event log <= 10 s.
Firestore figures: `python -m bench.firestore`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

from core.config import PROJECT_ROOT, Settings
from core.db import Database
from core.eventlog import Event, now_ms
from core.runtime import open_app
from core.workload import iter_mixed_events, mixed_events

PREVIOUS = "9130572"  # the last commit with the per-event fold


def _previous_projections():
    """core/projections.py as it was before set-based folding, loaded from git."""
    source = subprocess.run(["git", "show", f"{PREVIOUS}:core/projections.py"], cwd=PROJECT_ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("previous_projections")
    exec(compile(source, "previous_projections", "exec"), module.__dict__)  # noqa: S102 - our own file, from git
    return module


def fold_rate(tmp: Path, n: int) -> None:
    events = mixed_events(n, seed=11)
    app = open_app(Settings(data_dir=tmp / "fold"), workers=False)
    for start in range(0, len(events), 5000):
        app.log.append(events[start:start + 5000])
    started = time.perf_counter()
    folded = app.ingestor.pump()
    batched = time.perf_counter() - started
    app.close()
    # Baseline, same run: the fold before set-based folding (one SQL statement after another per event, as of
    # commit 9130572), over the first events.
    sample = events[: min(len(events), 3000)]
    before = _previous_projections()
    db = Database(tmp / "one.duckdb")
    started = time.perf_counter()
    with db.write() as cur:
        for e in sample:
            before.apply(cur, e)
    single = time.perf_counter() - started
    db.close()
    kinds = {}
    for e in events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    mix = ", ".join(f"{k} {v * 100 // len(events)} %" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:6])
    print(f"fold, log -> DuckDB: {folded:,} mixed events in {batched:.1f} s = {folded / batched:,.0f} events/s "
          f"(the previous per-event fold: {len(sample) / single:,.0f} events/s; "
          f"{single / len(sample) / (batched / folded):.1f}x)")
    print(f"  mix: {mix}")


def staff_under_device_load(tmp: Path, seconds: float, rate: int) -> None:
    app = open_app(Settings(data_dir=tmp / "staff"), workers=False)
    setup = mixed_events(600, seed=12, people=1_500)  # roster, classes, sessions, a running 1,500-graduate ceremony
    app.log.append(setup)
    app.ingestor.pump()
    ceremony_id = next(e.payload["ceremony_id"] for e in setup if e.kind == "ceremony.created")
    session_id = next(e.payload["session_id"] for e in setup if e.kind == "session.scheduled")
    student = next(e.payload["members"][0] for e in setup if e.kind == "class.upserted")
    app.ingestor.start(app.settings.ingest_poll_seconds)
    stop = threading.Event()
    sent = [0]

    def device() -> None:
        seq, started = 0, time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - started) * rate)
            batch = []
            while seq < due:
                seq += 1
                kind = ("beam.front", "beam.back", "device.heartbeat")[seq % 3]
                batch.append(Event(id=f"dev:b:{seq}", kind=kind, ts_ms=now_ms(), actor="stage-1", source="device",
                                   payload={"device_id": "stage-1", "boot_id": "b", "seq": seq, "received_ms": now_ms(),
                                            **({"firmware": "1", "uptime_s": seq, "rssi": -50, "queue_depth": 0,
                                                "free_heap": 1} if kind == "device.heartbeat" else {})}))
            if batch:
                app.log.append(batch)  # the receiver appends each request's batch
                sent[0] += len(batch)
            time.sleep(0.01)

    thread = threading.Thread(target=device, daemon=True)
    thread.start()
    latencies, end = [], time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        event = (Event.new("ceremony.called", {"ceremony_id": ceremony_id}, actor="op") if n % 2 else
                 Event.new("attendance.corrected", {"session_id": session_id, "student_id": student,
                                                    "status": "excused" if n % 4 == 0 else "present",
                                                    "reason": "bench"}, actor="op"))
        started = time.perf_counter()
        app.submit(event)
        latencies.append(time.perf_counter() - started)
        time.sleep(0.2)
    stop.set()
    thread.join()
    lag = app.log.head() - app.ingestor.cursor()
    app.close()
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(f"staff action -> in DuckDB while devices post {sent[0] / seconds:,.0f} events/s: "
          f"p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"max {latencies[-1] * 1000:.0f} ms "
          f"({len(latencies)} actions; background ingestor {lag:,} events behind at the end)")


def rebuild(tmp: Path, n: int) -> None:
    """`core.cli rebuild` in a process of its own, as an operator runs it: its time and peak RSS."""
    data = tmp / "rebuild"
    app = open_app(Settings(data_dir=data), workers=False)
    chunk: list[Event] = []
    for event in iter_mixed_events(n, seed=13, people=20_000):
        chunk.append(event)
        if len(chunk) == 10_000:
            app.log.append(chunk)
            chunk = []
    app.log.append(chunk)
    app.close()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "core.cli", "rebuild"], cwd=PROJECT_ROOT, check=True,
                   env={**os.environ, "ROLLCALL_DATA_DIR": str(data)}, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"rebuild (core.cli rebuild): {n:,} events in {took:.1f} s = {n / took:,.0f} events/s "
          f"(1,000,000 would take {1_000_000 / (n / took) / 60:.1f} min); peak RSS {peak:,.0f} MB")
    if n > 200_000:  # an erasure rewrites and rebuilds the whole log again: measured on the 100k log
        return
    app = open_app(Settings(data_dir=data), workers=False)
    from core import privacy

    someone = app.db.scalar("SELECT student_id FROM attendance GROUP BY student_id ORDER BY count(*) DESC LIMIT 1")
    started = time.perf_counter()
    privacy.erase_person(app, someone, actor="bench", reason="bench", keep_attendance=False)
    took = time.perf_counter() - started
    started = time.perf_counter()
    app.ingestor.rebuild()  # what the erasure did before: the same log rewrite, then this
    rebuilt = time.perf_counter() - started
    print(f"erasure of one person on a {n:,}-event log: {took:.1f} s (a log rewrite, the read model changed row by "
          f"row, its file copied afresh); the rebuild it no longer needs: {rebuilt:.1f} s on its own")
    app.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000, help="events for the fold figure")
    parser.add_argument("--rebuild-events", type=int, default=100_000)
    parser.add_argument("--staff-seconds", type=float, default=20.0)
    parser.add_argument("--device-rate", type=int, default=1000)
    parser.add_argument("--skip-rebuild", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fold_rate(tmp, args.events)
        staff_under_device_load(tmp, args.staff_seconds, args.device_rate)
        if not args.skip_rebuild:
            rebuild(tmp, args.rebuild_events)


if __name__ == "__main__":
    main()
