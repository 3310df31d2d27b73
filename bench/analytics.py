"""Statistics queries at scale (prints figures; not a pass/fail test).

    .venv/bin/python -m bench.analytics [--rows 10000000] [--runs 7] [--db PATH]

Generates synthetic data (core.synth) into a temporary data folder (or reuses --db if it already holds
synthetic data), then times every statistics query with a full-range filter and with a one-class filter:
p50 / p95 over --runs runs after one untimed warm-up. Then streams ~100k rows of `attendance_rows` to CSV
and reports time and memory. Goal (issue): ≤ 300 ms p95 per query.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from core import analytics as A
from core import exports, synth
from core.db import Database

GOAL_MS = 300
TIMEZONE = "Asia/Bangkok"


def _rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # Linux: resets VmHWM to the current RSS


def queries(db: Database, f: A.Filters, person: str, ceremony: str) -> list[tuple[str, object]]:
    return [
        ("kpis", lambda: A.kpis(db, f)),
        ("attendance_over_time week", lambda: A.attendance_over_time(db, f, "week")),
        ("attendance_over_time month", lambda: A.attendance_over_time(db, f, "month")),
        ("arrivals_heatmap", lambda: A.arrivals_heatmap(db, f)),
        ("lateness (200k sample)", lambda: A.lateness(db, f)),
        ("departments", lambda: A.departments(db, f)),
        ("people_summary", lambda: A.people_summary(db, f)),
        ("person_history", lambda: A.person_history(db, f, person)),
        ("people_counted day", lambda: A.people_counted(db, f, "day")),
        ("recognition_scores (200k sample)", lambda: A.recognition_scores(db, f)),
        ("unknowns_per_day", lambda: A.unknowns_per_day(db, f)),
        ("graduates_per_minute", lambda: A.graduates_per_minute(db, ceremony)),
        ("time_on_stage", lambda: A.time_on_stage(db, ceremony)),
        ("call_to_stage", lambda: A.call_to_stage(db, ceremony)),
        ("no_show_by_department", lambda: A.no_show_by_department(db, ceremony)),
        ("ceremony_timeline", lambda: A.ceremony_timeline(db, ceremony)),
    ]


def time_queries(db: Database, label: str, f: A.Filters, person: str, ceremony: str, runs: int) -> list[float]:
    print(f"\n{label}: {f}")
    print(f"{'query':36} {'rows':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    p95s = []
    for name, fn in queries(db, f, person, ceremony):
        out = fn()  # warm-up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        p50, p95 = np.percentile(times, 50), np.percentile(times, 95)
        p95s.append(p95)
        rows = len(out) if hasattr(out, "__len__") and not isinstance(out, dict) else 1
        flag = "" if p95 <= GOAL_MS else "  > goal"
        print(f"{name:36} {rows:>8,} {p50:>8.1f} {p95:>8.1f} {max(times):>8.1f}{flag}")
    return p95s


def export_bench(db: Database, end: date, target: int, out: Path) -> None:
    per_day = db.query("SELECT CAST(s.starts_at AS DATE) AS day, count(*) AS n FROM attendance a "
                       "JOIN sessions s USING (session_id) GROUP BY 1 ORDER BY 1 DESC")
    per_day = per_day[per_day["day"] <= np.datetime64(end)]
    cum = per_day["n"].cumsum()
    start = per_day["day"].iloc[min(int((cum < target).sum()), len(per_day) - 1)].date()
    f = A.Filters(start, end)
    _reset_peak_rss()
    rss0 = _rss_mb()
    t = time.perf_counter()
    rows = exports.export_csv(db, f, out, chunk_rows=50_000)
    secs = time.perf_counter() - t
    rss_peak = _rss_mb("VmHWM")
    tracemalloc.start()  # a second, untimed run: tracemalloc slows Python allocations several-fold
    exports.export_csv(db, f, out, chunk_rows=50_000)
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"\nCSV export (streamed, 50k-row chunks): {rows:,} rows ({start} … {end}) in {secs:.2f} s, "
          f"{out.stat().st_size / 1e6:.1f} MB file; Python peak (tracemalloc) {py_peak / 1e6:.1f} MB; "
          f"process RSS {rss0:.0f} → peak {rss_peak:.0f} MB (includes DuckDB's buffers)")


def pdf_bench(db: Database, end: date, rows: int = 1000) -> None:
    """A PDF report of `rows` detail rows (KPIs + table; charts need a browser and are timed apart)."""
    from core.exports import report_pdf

    f = A.Filters(end - timedelta(days=3), end)
    table = next(A.attendance_rows(db, f, chunk_rows=rows)).head(rows)
    kpis = [(k, str(v)) for k, v in A.kpis(db, f).items()][:8]
    tracemalloc.start()
    t = time.perf_counter()
    pdf = report_pdf("Rollcall attendance report", [f"Period {f.start} to {f.end}"], kpis, [], table)
    secs = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"PDF report: {len(table):,} rows in {secs:.2f} s, {len(pdf) / 1e6:.2f} MB; Python peak {peak / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000, help="attendance rows to generate (about)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query (after one warm-up)")
    parser.add_argument("--db", type=Path, help="reuse/keep this DuckDB file instead of a temporary one")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "data" / "rollcall.duckdb"
        db = Database(path, timezone=TIMEZONE)
        people, days = synth.plan_for_rows(args.rows)
        have = db.scalar("SELECT count(*) FROM attendance WHERE event_id LIKE 'synth:%'")
        params = db.query("SELECT min(CAST(starts_at AS DATE)) AS lo, max(CAST(starts_at AS DATE)) AS hi "
                          "FROM sessions WHERE session_id LIKE 'SYN%'")
        if have and args.db:
            start, end = params["lo"].iloc[0].date(), params["hi"].iloc[0].date()
            print(f"reusing {path}: {have:,} synthetic attendance rows, sessions {start} … {end}")
        else:
            print(f"generating: people={people:,} days={days} (≈{args.rows:,} rows), seed={args.seed}, "
                  f"{os.cpu_count()} cores")
            t = time.perf_counter()
            counts = synth.generate(db, people=people, days=days, seed=args.seed,
                                    progress=lambda m: print(f"  {time.perf_counter() - t:6.1f}s {m}", flush=True))
            print(f"generated in {time.perf_counter() - t:.1f} s: {counts}")
            end = date.fromisoformat(counts["params"]["today"])
            start = end - timedelta(days=days - 1)
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        print(f"DuckDB file {size / 1e9:.2f} GB; attendance rows {db.scalar('SELECT count(*) FROM attendance'):,}")
        one_class = db.scalar("SELECT class_id FROM class_members WHERE class_id LIKE 'SYN%' "
                              "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
        person = db.scalar("SELECT student_id FROM class_members WHERE class_id = ? ORDER BY 1 LIMIT 1", [one_class])
        ceremony = db.scalar("SELECT ceremony_id FROM ceremony_entries GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        worst = time_queries(db, "full range, all classes", A.Filters(start, end), person, ceremony, args.runs)
        worst += time_queries(db, f"full range, one class ({one_class})",
                              A.Filters(start, end, class_ids=(one_class,)), person, ceremony, args.runs)
        print(f"\nworst p95 {max(worst):.0f} ms (goal ≤ {GOAL_MS} ms)")
        export_bench(db, end, 100_000, Path(tmp) / "export.csv")
        pdf_bench(db, end)
        db.close()


if __name__ == "__main__":
    main()
