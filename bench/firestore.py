"""The Firestore event log under concurrent writers, on the real emulator (prints figures; not a pass/fail test).

    .venv/bin/python -m bench.firestore [--seconds 20] [--writers 1,4,16] [--no-old]

Starts its own emulator. Writers are threads spread over up to 4 processes (so the GIL does not hide
contention), each appending one event per call for `--seconds`. For each run: events/s, append latency
p50/p99, failed appends, and the most writes any one document took in one second (counted from the
commit requests themselves). Baseline in the same run: the previous design (from git history: one
counter document updated by every append). Then the settle window: 16 writers again (and 4 writers
appending 300 events at a time, whose commits take longer), followed by a reader with settle 0 and one
with the configured window; after the writers stop, a full read shows which events each follower
missed or saw at another position, and each append's request-to-commit lag.
Goal (issue #16): >= 300 events/s with 16 writers, p99 <= 500 ms.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

from core.config import PROJECT_ROOT, Settings
from tests.browser.conftest import free_port
from tests.firestore import PROJECT, FirestoreEmulator

PROCESSES = 4


def load_design(design: str) -> type:
    """The FirestoreEventLog class of this tree ("new") or of the counter-document design ("old")."""
    if design == "new":
        from core.eventlog.firestore import FirestoreEventLog

        return FirestoreEventLog
    source = old_design_source()
    path = Path(tempfile.gettempdir()) / "rollcall_old_firestore_log.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("rollcall_old_firestore_log", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FirestoreEventLog


def old_design_source() -> bytes:
    """The newest committed core/eventlog/firestore.py that still counts positions in a `_meta` document."""
    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, check=True).stdout

    for commit in git("log", "--format=%H", "--", "core/eventlog/firestore.py").split():
        source = git("show", f"{commit.decode()}:core/eventlog/firestore.py")
        if b'_meta")' in source:
            return source
    raise RuntimeError("no commit holds the counter-document design of core/eventlog/firestore.py")


def _doc_name(write) -> str:
    op = type(write).pb(write).WhichOneof("operation")
    return write.update.name if op == "update" else write.delete if op == "delete" else write.transform.document


def writer_process(host: str, design: str, prefix: str, threads: int, seconds: float, batch: int,
                   ready, go, results) -> None:
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    from core.eventlog import Event

    log = load_design(design)(PROJECT, prefix)
    writes: Counter[tuple[str, int]] = Counter()  # (document, second) -> committed writes
    lock = threading.Lock()
    api = log._db._firestore_api
    real_commit = api.commit

    def counted_commit(*args, **kwargs):
        response = real_commit(*args, **kwargs)  # counted only once committed: an aborted try writes nothing
        second = int(time.time())
        with lock:
            for w in kwargs["request"]["writes"]:
                writes[(_doc_name(w), second)] += 1
        return response

    api.commit = counted_commit
    latencies: list[float] = []
    errors: list[str] = []

    def run() -> None:
        while time.time() < deadline:
            start = time.perf_counter()
            try:
                log.append([Event.new("bench.ping", {"at": start, "i": i}) for i in range(batch)])
                latencies.append(time.perf_counter() - start)
            except Exception as exc:  # noqa: BLE001 - counted and shown: the old design gives up under contention
                errors.append(type(exc).__name__)

    ready.put(1)
    go.wait()
    deadline = time.time() + seconds
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    results.put((latencies, errors, time.time(), dict(writes)))
    log.close()


def run_writers(host: str, design: str, prefix: str, writers: int, seconds: float, batch: int = 1) -> dict:
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = min(writers, PROCESSES)
    counts = [writers // procs + (i < writers % procs) for i in range(procs)]
    ps = [ctx.Process(target=writer_process, args=(host, design, prefix, n, seconds, batch, ready, go, results))
          for n in counts]
    for p in ps:
        p.start()
    for _ in ps:
        ready.get(timeout=120)
    started = time.time()
    go.set()
    latencies, errors, ended, writes = [], [], started, Counter()
    for _ in ps:
        lat, err, end, w = results.get()
        latencies += lat
        errors += err
        ended = max(ended, end)
        writes.update(w)
    for p in ps:
        p.join()
    per_doc = Counter()
    for (doc, _), n in writes.items():
        per_doc[doc] += n
    lat = np.array(latencies or [float("nan")]) * 1000
    return {"design": design, "writers": writers, "events": len(latencies), "rate": len(latencies) / (ended - started),
            "p50": np.percentile(lat, 50), "p99": np.percentile(lat, 99), "errors": len(errors),
            "max_per_doc_second": max(writes.values(), default=0), "max_per_doc": max(per_doc.values(), default=0)}


def follow(log, stop: threading.Event, seen: list) -> None:
    """Reads after its cursor until told to stop and caught up: what a consumer of the log sees."""
    cursor = 0
    while True:
        stopping = stop.is_set()  # before the read: a read after the writers stopped sees all
        batch = log.read_after(cursor, 1000)
        seen += [(s.event.id, s.position) for s in batch]
        cursor = batch[-1].position if batch else cursor
        if stopping and not batch:
            return
        if not batch:
            time.sleep(0.005)


def settle_experiment(host: str, writers: int, seconds: float, settle_ms: int, batch: int) -> dict:
    from core.eventlog.firestore import FirestoreEventLog

    prefix = f"settle{uuid.uuid4().hex[:6]}"
    logs = {s: FirestoreEventLog(PROJECT, prefix, settle_ms=s) for s in (0, settle_ms)}
    stop, seen = threading.Event(), {s: [] for s in logs}
    followers = [threading.Thread(target=follow, args=(log, stop, seen[s])) for s, log in logs.items()]
    for f in followers:
        f.start()
    run_writers(host, "new", prefix, writers, seconds, batch)
    stop.set()
    for f in followers:
        f.join()
    final = logs[settle_ms].read_after(0, 10**7)
    where = {s.event.id: s.position for s in final}
    out = {"events": len(final), "writers": writers, "batch": batch}
    for s, got in seen.items():
        ids = {i for i, _ in got}
        out[s] = {"missed": len(where.keys() - ids), "moved": sum(where.get(i) != p for i, p in got),
                  "duplicates": len(got) - len(ids)}
    # Request-to-commit lag of every append: commit time (each event document is written once) - `committed`.
    lag = np.array([(d.update_time - d.get("committed")).total_seconds() * 1000
                    for d in logs[settle_ms]._events.stream()])
    out["lag"] = (np.percentile(lag, 50), np.percentile(lag, 99), np.percentile(lag, 99.9), lag.max())
    for log in logs.values():
        log.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--writers", default="1,4,16")
    parser.add_argument("--no-old", action="store_true", help="skip the previous design")
    args = parser.parse_args()
    writer_counts = [int(w) for w in args.writers.split(",")]
    emulator = FirestoreEmulator(free_port())
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    try:
        run_writers(emulator.host, "new", "warmup", 4, 3)  # the emulator's JIT warms up: not measured
        rows = []
        for design in ("new", *(() if args.no_old else ("old",))):
            for writers in writer_counts:
                rows.append(run_writers(emulator.host, design, f"b{uuid.uuid4().hex[:6]}", writers, args.seconds))
                r = rows[-1]
                print(f"  {design} x{writers}: {r['events']} events", file=sys.stderr, flush=True)
        settle_ms = Settings().firestore_settle_ms
        settles = [settle_experiment(emulator.host, max(writer_counts), args.seconds, settle_ms, 1),
                   settle_experiment(emulator.host, PROCESSES, args.seconds, settle_ms, 300)]
    finally:
        emulator.stop()

    print(f"{os.cpu_count()} cores, {args.seconds:g} s per run, single-event appends, "
          f"shards={Settings().firestore_shards}, settle={settle_ms} ms")
    print(f"{'design':<7}{'writers':>8}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}"
          f"{'max writes to one doc':>23}{'in one second':>15}")
    for r in rows:
        print(f"{r['design']:<7}{r['writers']:>8}{r['rate']:>10.1f}{r['p50']:>9.0f}{r['p99']:>9.0f}{r['errors']:>8}"
              f"{r['max_per_doc']:>23}{r['max_per_doc_second']:>15}")
    print("\nsettle window: writers + two followers (settle 0 and the setting); afterwards a full read")
    for settle in settles:
        p50, p99, p999, worst = settle["lag"]
        print(f"{settle['writers']} writers, {settle['batch']} events per append, {settle['events']} events; "
              f"request-to-commit lag ms: p50 {p50:.1f}, p99 {p99:.1f}, p99.9 {p999:.1f}, max {worst:.1f}")
        for s in (0, settle_ms):
            r = settle[s]
            print(f"  follower with settle {s:>4} ms: missed {r['missed']}, seen at another position {r['moved']}, "
                  f"seen twice {r['duplicates']}")


if __name__ == "__main__":
    main()
