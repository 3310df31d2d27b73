"""Event log and ingestor throughput on this machine (prints figures; not a pass/fail test).

    .venv/bin/python -m bench.eventlog [--events 20000]

Baseline in the same run: a bare SQLite INSERT loop in WAL mode, so the figures read as a ratio
that does not depend on how fast or busy the machine is.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from core.config import Settings
from core.eventlog import Event, SQLiteEventLog
from core.runtime import open_app


def bare_sqlite(path: Path, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, body TEXT)")
    start = time.perf_counter()
    for i in range(n):
        conn.execute("INSERT INTO t VALUES (?, ?)", (f"id-{i}", f'{{"i": {i}}}'))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    n = parser.parse_args().events
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = bare_sqlite(tmp / "bare.sqlite", n)
        log = SQLiteEventLog(tmp / "one.sqlite")
        events = [Event.new("person.upserted", {"person": {"student_id": f"{i:07d}", "name": f"คน {i}"}})
                  for i in range(n)]
        start = time.perf_counter()
        for e in events:
            log.append([e])
        single = time.perf_counter() - start
        batched_log = SQLiteEventLog(tmp / "batch.sqlite")
        start = time.perf_counter()
        for i in range(0, n, 100):
            batched_log.append(events[i:i + 100])
        batched = time.perf_counter() - start

        app = open_app(Settings(data_dir=tmp / "data"), workers=False)
        app.log.append(events)
        start = time.perf_counter()
        app.ingestor.pump()
        ingest = time.perf_counter() - start
        start = time.perf_counter()
        app.ingestor.rebuild()
        rebuild = time.perf_counter() - start
        app.close()

    print(f"events: {n}")
    print(f"bare sqlite insert (baseline)  {n / base:10,.0f} /s")
    print(f"log.append, one per call       {n / single:10,.0f} /s   ({single / base:.2f}x baseline time)")
    print(f"log.append, batches of 100     {n / batched:10,.0f} /s   ({batched / base:.2f}x baseline time)")
    print(f"ingest into DuckDB             {n / ingest:10,.0f} /s")
    print(f"rebuild from the log           {rebuild:10.2f} s")


if __name__ == "__main__":
    main()
