"""Synthetic data at scale, for statistics pages and benchmarks.

`generate` writes DIRECTLY into the DuckDB read model with bulk inserts (DataFrames and
`INSERT … SELECT` over generated tables). It does NOT go through the event log: ten million check-ins
cannot be appended and folded event by event. Consequently a rebuild of the read model from the log
(core.ingestor) drops all synthetic data; run `generate` again afterwards if you need it.

Every synthetic id starts with "SYN" (people SYN000001, classes SYNC0001, sessions SYNC0001-2026-01-05-0,
ceremonies SYN-grad-1, event ids synth:…), so it never collides with the demo or real data, and
`clear` removes exactly what `generate` wrote.

What the data looks like:
* people with Thai names (and ~5 % international names), four departments;
* classes of ~40 members (mostly from the class's department), 2 weekly meetings each, Mon–Fri (a few Sat);
* sessions on every scheduled day of the last `days` days up to today;
* per person: a reliability (most attend ~90–97 %, a tail much less), a punctuality (most arrive a few
  minutes early), a chance of being very late; fewer people on Fridays and at 8 am, attendance drifting
  down over a 16-week term; 0.5 % excused rows;
* methods face (80 %, with a similarity score) / QR / device (with score) / manual;
* faces seen but not recognised during sessions (unknown_faces);
* a few past ceremonies: a call every 20–40 s, call → stage 10–60 s, stage → received 8–20 s, ~4 % no-shows.

Attendance (the large table) is produced by one `INSERT … SELECT` inside DuckDB from sessions × members
× per-person traits, with deterministic hash-based random numbers (same seed → same data).
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from core.db import Database
from core.demo import DEPARTMENTS, FIRST, INTERNATIONAL, LAST
from core.timeutil import local_day

PREFIX = "SYN"
SUBJECTS = ["Calculus", "Statistics", "Marketing", "Accounting", "Machine Learning", "Databases", "Media Law",
            "Film Studies", "Thai Language", "English for Work", "Operating Systems", "Economics",
            "Visualisation", "Networks", "Public Relations", "Finance"]
START_MINUTES = [8 * 60, 9 * 60, 10 * 60 + 30, 13 * 60, 14 * 60 + 30, 16 * 60, 17 * 60 + 30]
ROWS_PER_PERSON_DAY = 1.37  # attendance rows generated per person per calendar day (for sizing)

# Tables and the id column that carries the SYN prefix.
_OWNED = [("attendance", "session_id"), ("sessions", "session_id"), ("schedules", "schedule_id"),
          ("class_members", "class_id"), ("classes", "class_id"), ("ceremony_entries", "ceremony_id"),
          ("ceremonies", "ceremony_id"), ("unknown_faces", "event_id"), ("people", "student_id"),
          ("person_keys", "student_id")]


def plan_for_rows(rows: int, people: int = 20_000) -> tuple[int, int]:
    """(people, days) that give about `rows` attendance rows (whole people count kept, days ≥ 7)."""
    people = max(10, min(people, int(rows / (ROWS_PER_PERSON_DAY * 7)) or 10))
    return people, max(7, round(rows / (people * ROWS_PER_PERSON_DAY)))


def clear(db: Database) -> None:
    """Delete everything `generate` wrote (ids starting with SYN / synth:)."""
    with db.write() as cur:
        for table, column in _OWNED:
            pattern = "synth:%" if table == "unknown_faces" else f"{PREFIX}%"
            cur.execute(f"DELETE FROM {table} WHERE {column} LIKE ?", [pattern])


def generate(db: Database, *, people: int, days: int, classes: int | None = None, seed: int = 7,
             today: date | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Write synthetic people, classes, schedules, sessions, attendance, unknown faces and ceremonies for
    the `days` days up to `today` (local). Replaces earlier synthetic data. Returns the row counts and seconds.

    Not through the event log (see the module docstring): a rebuild from the log drops this data.
    ~1.37 attendance rows per person per day: 20,000 people × 365 days ≈ 10 M rows.
    """
    t0 = clock.perf_counter()
    say = progress or (lambda _msg: None)
    tz = ZoneInfo(db.timezone)
    now = datetime.now(UTC)
    today = today or local_day(now, tz)
    rng = np.random.default_rng(seed)
    n_classes = classes or max(2, round(people * 5.5 / 40))

    say("clearing earlier synthetic data")
    clear(db)

    say(f"people: {people:,}")
    ppl, traits = _people(rng, people, now)
    say(f"classes: {n_classes:,}")
    cls, members, schedules = _classes(rng, n_classes, ppl)
    say(f"sessions over {days} days")
    sess = _sessions(schedules, today, days, tz, now)
    cer, entries = _ceremonies(rng, ppl, today, days, tz)
    unknown = _unknown_faces(rng, sess, now)

    counts: dict[str, Any] = {}
    with db.write() as cur:
        for name, df in [("people", ppl), ("classes", cls), ("class_members", members),
                         ("schedules", schedules[["schedule_id", "class_id", "weekday", "start_time", "end_time",
                                                  "late_after_min", "room"]]),
                         ("sessions", sess), ("unknown_faces", unknown), ("ceremonies", cer),
                         ("ceremony_entries", entries)]:
            columns = ", ".join(df.columns)  # the frames' columns are named after the table's
            cur.register("synth_df", df)
            cur.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM synth_df")
            cur.unregister("synth_df")
            counts[name] = len(df)
        # Integer keys for the new sessions, numbered on from the largest in start order (as the projection would).
        cur.execute("UPDATE sessions SET session_no = n.no FROM (SELECT session_id AS sid, CAST((SELECT coalesce("
                    "max(session_no), 0) FROM sessions) + row_number() OVER (ORDER BY starts_at, session_id) "
                    "AS INTEGER) AS no FROM sessions WHERE session_no IS NULL) n WHERE sessions.session_id = n.sid")
        say(f"attendance for {len(sess):,} sessions × members (in DuckDB)")
        cur.register("synth_traits", traits)
        # Integer keys for the new people, numbered on from the largest (as the projection would).
        cur.execute("INSERT OR IGNORE INTO person_keys SELECT student_id, (SELECT coalesce(max(person_no), 0) "
                    "FROM person_keys) + row_number() OVER (ORDER BY student_id) FROM synth_traits")
        cur.execute(_ATTENDANCE_SQL, [seed, seed, seed, seed, seed, seed, seed, now, now])
        cur.unregister("synth_traits")
        counts["attendance"] = int(cur.execute("SELECT count(*) FROM attendance WHERE event_id LIKE 'synth:%'")
                                   .fetchall()[0][0])
    counts["seconds"] = round(clock.perf_counter() - t0, 1)
    counts["params"] = {"people": people, "days": days, "classes": n_classes, "seed": seed,
                        "today": today.isoformat()}
    say(f"done: {counts}")
    return counts


# Deterministic uniforms in (0, 1) from a hash of (seed, session, student, stream).
def _u(stream: int) -> str:
    return f"((hash(?, s.session_id, m.student_id, {stream}) % 1000000007) + 0.5) / 1000000007.0"


_ATTENDANCE_SQL = f"""
INSERT INTO attendance (session_id, student_id, status, checked_at, method, score, event_id, class_id, starts_at,
                        attended, late, person_no, session_no)
WITH base AS (
    SELECT s.session_id, s.session_no, m.student_id, k.person_no, s.class_id, s.starts_at, s.ends_at,
           s.late_after_min,
           t.reliability, t.punct_mean, t.punct_sd, t.tail_p, t.face_p,
           {_u(1)} AS u_attend, {_u(2)} AS u_z1, {_u(3)} AS u_z2, {_u(4)} AS u_tail, {_u(5)} AS u_method,
           {_u(6)} AS u_score, {_u(7)} AS u_excused,
           -- fewer on Fridays and at 8 am; attendance drifts down through a 16-week term
           (CASE WHEN isodow(s.starts_at) = 5 THEN 0.90 WHEN isodow(s.starts_at) = 6 THEN 0.85 ELSE 1.0 END)
           * (CASE WHEN hour(s.starts_at) < 9 THEN 0.95 ELSE 1.0 END)
           * (1.0 - 0.004 * ((epoch(s.starts_at) / 604800)::BIGINT % 16)) AS day_factor
    FROM sessions s
    JOIN class_members m USING (class_id)
    JOIN synth_traits t ON t.student_id = m.student_id
    JOIN person_keys k ON k.student_id = m.student_id
    WHERE s.session_id LIKE 'SYN%' AND s.starts_at <= ?
), arrivals AS (
    SELECT *,
           -- Box-Muller normal, plus an exponential tail for the very late
           punct_mean + punct_sd * sqrt(-2 * ln(u_z1)) * cos(2 * pi() * u_z2)
           + CASE WHEN u_tail < tail_p THEN -15 * ln(u_tail / tail_p) ELSE 0 END AS minutes
    FROM base
    WHERE u_attend < reliability * day_factor
), timed AS (
    SELECT *, starts_at + to_microseconds(CAST(least(greatest(minutes, -15.0),
                  epoch(ends_at - starts_at) / 60.0 - 1) * 60000000 AS BIGINT)) AS checked_at,
           CASE WHEN u_method < face_p THEN 'face' WHEN u_method < face_p + 0.10 THEN 'qr'
                WHEN u_method < face_p + 0.13 THEN 'device' ELSE 'manual' END AS method
    FROM arrivals
), statused AS (
    SELECT *, CASE WHEN u_excused < 0.005 THEN 'excused'
                   WHEN checked_at > starts_at + to_minutes(late_after_min) THEN 'late' ELSE 'present' END AS status
    FROM timed
    WHERE checked_at <= ?
)
SELECT session_id, student_id,
       status,
       checked_at,
       method,
       CASE WHEN method IN ('face', 'device')
            THEN round(least(0.97, greatest(0.45, 0.70 + 0.07 * sqrt(-2 * ln(u_score)) * cos(2 * pi() * u_z1))), 3)
       END AS score,
       'synth:' || session_id || ':' || student_id,
       class_id, starts_at,  -- the session's, copied onto the row as the projection does
       status IN ('present', 'late'), status = 'late', person_no, session_no
FROM statused
ORDER BY starts_at, session_id, student_id  -- the order live check-ins arrive in (and it keeps joins fast)
"""


def _people(rng: np.random.Generator, n: int, now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    first = rng.integers(0, len(FIRST), n)
    last = rng.integers(0, len(LAST), n)
    intl = rng.random(n) < 0.05
    intl_pick = rng.integers(0, len(INTERNATIONAL), n)
    sid = [f"{PREFIX}{i + 1:06d}" for i in range(n)]
    name = [INTERNATIONAL[intl_pick[i]] if intl[i] else f"{FIRST[first[i]][0]} {LAST[last[i]][0]}"
            for i in range(n)]
    name_en = [INTERNATIONAL[intl_pick[i]] if intl[i] else f"{FIRST[first[i]][1]} {LAST[last[i]][1]}"
               for i in range(n)]
    dept = np.array(DEPARTMENTS, dtype=object)[rng.choice(len(DEPARTMENTS), n, p=[0.35, 0.3, 0.15, 0.2])]
    created = pd.Timestamp(now) - pd.Timedelta(days=400)
    ppl = pd.DataFrame({
        "student_id": sid, "name": name, "name_en": name_en,
        "guardian_name": [f"ผู้ปกครอง {x.split()[-1]}" for x in name], "department": dept,
        "phone": [f"08{x:08d}" for x in rng.integers(0, 10**8, n)],
        "email": [f"{s.lower()}@synthetic.example.ac.th" for s in sid],
        "ceremony_order": pd.array([None] * n, dtype="Int32"), "photo_count": 0,
        "created_at": created, "updated_at": created,
    })
    # Per-person behaviour: most attend 90–97 %, a tail much less; most arrive a few minutes early.
    reliability = np.clip(rng.beta(20, 1.1, n), 0.3, 0.995)
    weak = rng.random(n) < 0.06
    reliability[weak] = rng.uniform(0.45, 0.75, weak.sum())
    traits = pd.DataFrame({
        "student_id": sid, "reliability": reliability,
        "punct_mean": rng.normal(-3.5, 3.5, n), "punct_sd": rng.uniform(2.0, 6.0, n),
        "tail_p": rng.beta(2.0, 14, n), "face_p": rng.uniform(0.72, 0.88, n),
    })
    return ppl, traits


def _classes(rng: np.random.Generator, n_classes: int,
             ppl: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    cdept = np.array([DEPARTMENTS[i % len(DEPARTMENTS)] for i in range(n_classes)], dtype=object)
    cid = [f"{PREFIX}C{i + 1:04d}" for i in range(n_classes)]
    cls = pd.DataFrame({
        "class_id": cid,
        "name": [f"{SUBJECTS[i % len(SUBJECTS)]} {100 + i // len(SUBJECTS)}" for i in range(n_classes)],
        "department": cdept,
        "teacher": [f"อ.{FIRST[x][0]}" for x in rng.integers(0, len(FIRST), n_classes)],
    })
    # Each person takes 4–7 classes, three in four from their own department.
    n = len(ppl)
    k = rng.integers(4, 8, n)
    person = np.repeat(np.arange(n), k)
    own = rng.random(len(person)) < 0.75
    pick = rng.integers(0, n_classes, len(person))
    pdept = ppl["department"].to_numpy()[person]
    for d in DEPARTMENTS:
        pool = np.flatnonzero(cdept == d)
        sel = own & (pdept == d)
        if len(pool) and sel.any():
            pick[sel] = pool[rng.integers(0, len(pool), sel.sum())]
    pairs = pd.DataFrame({"c": pick, "p": person}).drop_duplicates()
    members = pd.DataFrame({"class_id": np.array(cid, dtype=object)[pairs["c"].to_numpy()],
                            "student_id": ppl["student_id"].to_numpy()[pairs["p"].to_numpy()]})
    # Two weekly meetings on different days (Mon–Fri, a few Saturdays).
    day1 = rng.integers(0, 5, n_classes)
    day2 = (day1 + rng.integers(2, 4, n_classes)) % 5
    day2[rng.random(n_classes) < 0.04] = 5
    start = np.array(START_MINUTES)[rng.integers(0, len(START_MINUTES), (n_classes, 2))]
    duration = rng.choice([90, 120, 180], (n_classes, 2), p=[0.5, 0.3, 0.2])
    late = rng.choice([10, 15], n_classes, p=[0.7, 0.3])
    rows = []
    for slot, days_ in enumerate((day1, day2)):
        rows.append(pd.DataFrame({
            "schedule_id": [f"{c}-w{slot}" for c in cid], "class_id": cid, "slot": slot, "weekday": days_,
            "start_min": start[:, slot], "duration": duration[:, slot], "late_after_min": late,
            "room": [f"Room {r}" for r in rng.integers(101, 960, n_classes)]}))
    schedules = pd.concat(rows, ignore_index=True)
    schedules["start_time"] = pd.to_timedelta(schedules["start_min"], unit="min").map(_as_time)
    schedules["end_time"] = pd.to_timedelta(schedules["start_min"] + schedules["duration"], unit="min").map(_as_time)
    return cls, members, schedules


def _as_time(delta: pd.Timedelta):
    return (datetime.min + delta.to_pytimedelta()).time()


def _sessions(schedules: pd.DataFrame, today: date, days: int, tz: ZoneInfo, now: datetime) -> pd.DataFrame:
    dates = pd.DataFrame({"day": pd.date_range(end=pd.Timestamp(today), periods=days, freq="D")})
    dates["weekday"] = dates["day"].dt.day_of_week
    sess = schedules.merge(dates, on="weekday").sort_values(["day", "start_min", "class_id"], ignore_index=True)
    local = sess["day"] + pd.to_timedelta(sess["start_min"], unit="min")
    starts = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward").dt.tz_convert("UTC")
    ends = starts + pd.to_timedelta(sess["duration"], unit="min")
    return pd.DataFrame({
        "session_id": sess["class_id"] + "-" + sess["day"].dt.strftime("%Y-%m-%d") + "-" + sess["slot"].astype(str),
        "class_id": sess["class_id"], "starts_at": starts, "ends_at": ends,
        "late_after_min": sess["late_after_min"].astype("int32"),
        "status": np.where(ends < pd.Timestamp(now), "ended", "scheduled"),
        "ended_at": ends.where(ends < pd.Timestamp(now)),
    })


def _unknown_faces(rng: np.random.Generator, sess: pd.DataFrame, now: datetime) -> pd.DataFrame:
    started = sess[sess["starts_at"] <= pd.Timestamp(now)]
    per = rng.poisson(0.4, len(started))
    idx = np.repeat(np.arange(len(started)), per)
    at = (started["starts_at"].iloc[idx].reset_index(drop=True)
          + pd.to_timedelta(rng.uniform(-600, 1800, len(idx)), unit="s"))
    df = pd.DataFrame({"event_id": [f"synth:unknown:{i}" for i in range(len(idx))],
                       "at_time": at,
                       "source": np.where(rng.random(len(idx)) < 0.6, "SYN-cam-" +
                                          started["class_id"].to_numpy()[idx].astype(str), "checkin-page"),
                       "score": np.round(rng.uniform(0.2, 0.5, len(idx)), 3)})
    return df[df["at_time"] <= pd.Timestamp(now)]


def _ceremonies(rng: np.random.Generator, ppl: pd.DataFrame, today: date, days: int,
                tz: ZoneInfo) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_cer = 3
    size = max(1, min(600, len(ppl) // n_cer))
    order = rng.permutation(len(ppl))
    dept_no_show = dict(zip(DEPARTMENTS, [0.03, 0.05, 0.06, 0.04], strict=True))
    cer_rows, entry_frames = [], []
    for i in range(n_cer):
        on_date = today - timedelta(days=max(1, days * (i + 1) // (n_cer + 1)))
        chosen = ppl.iloc[order[i * size:(i + 1) * size]]
        chosen = chosen.assign(d=chosen["department"].map(DEPARTMENTS.index)).sort_values(["d", "student_id"])
        n = len(chosen)
        if n == 0:
            continue
        start = datetime.combine(on_date, datetime.min.time(), tz) + timedelta(hours=9)
        gaps = rng.uniform(20, 40, n)  # seconds between calls
        called = pd.Timestamp(start).tz_convert("UTC") + pd.to_timedelta(np.cumsum(gaps) - gaps[0], unit="s")
        to_stage = np.clip(rng.gamma(3.0, 8.0, n) + 8, 10, 60)
        on_stage = called + pd.to_timedelta(to_stage, unit="s")
        received = on_stage + pd.to_timedelta(rng.uniform(8, 20, n), unit="s")
        absent = rng.random(n) < chosen["department"].map(dept_no_show).to_numpy()
        cid = f"{PREFIX}-grad-{i + 1}"
        entry_frames.append(pd.DataFrame({
            "ceremony_id": cid, "student_id": chosen["student_id"].to_numpy(), "order_no": np.arange(1, n + 1),
            "status": np.where(absent, "absent", "received"), "called_at": called,
            "on_stage_at": pd.Series(on_stage).where(~absent).to_numpy(),
            "received_at": pd.Series(received).where(~absent).to_numpy(), "call_no": np.arange(1, n + 1)}))
        cer_rows.append({"ceremony_id": cid, "name": f"พิธีรับปริญญา (synthetic) {i + 1}", "on_date": on_date,
                         "venue": "หอประชุมใหญ่ (Main Auditorium)", "absent_timeout_min": 5.0,
                         "created_at": pd.Timestamp(start).tz_convert("UTC") - pd.Timedelta(days=30),
                         "status": "ended", "auto_advance": False, "calls": n,
                         "started_at": pd.Timestamp(start).tz_convert("UTC"),
                         "ended_at": max(received.max(), called.max()) + pd.Timedelta(minutes=5)})
    cer = pd.DataFrame(cer_rows)
    entries = pd.concat(entry_frames, ignore_index=True) if entry_frames else pd.DataFrame()
    return cer, entries
