"""Attendance and ceremony statistics: SQL on the DuckDB read model, returning DataFrames (pages only draw).

Absence is not a row. Rates and absences count only sessions that are over — ended by staff, or their window
closed (the `ended` state of core/session_rules.py): a session still open, or not begun, has absences still to
come, so it is left out of both sides. For that set of sessions:

* expected = Σ over sessions of the number of members of the session's class (after the department filter),
* attended = attendance rows with status present or late,
* absent   = expected − attended (never below zero).

Distributions of what did happen (arrivals, lateness, recognition scores, people who came) count every check-in
of a started session. Listings (a person's history, the export) show an open session's records, and an absence
only once the session is over.

Every attendance statistic is aggregated in SQL. Expected counts never materialise the sessions × members
product: they multiply per-session counts by per-class member counts.

The big table (attendance) carries a copy of its session's class_id and starts_at, its status as flags
(attended = present or late, late) and an integer key of its person (person_no), all written with the row. So
it is filtered on its own columns, without a join or string comparisons, and aggregated FIRST (per session, per
person, per start instant); only the small aggregates are then joined to sessions, classes and people. The
person's department is always read from `people` (it may change), never copied.

Periods, weekdays and hours are local: each cursor runs with ``SET TimeZone`` to the configured zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from core.db import Database
from core.names import sort_sql
from core.session_rules import STATE_SQL
from core.timeutil import day_bounds

GRAINS = ("day", "week", "month", "quarter", "year")
SAMPLE_ROWS = 200_000  # distributions (lateness, scores) above this many rows are drawn from a reservoir sample


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive, local days
    class_ids: tuple[str, ...] = ()  # empty = all
    departments: tuple[str, ...] = ()  # the person's department (people.department); empty = all
    session_id: str | None = None


# --------------------------------------------------------------------------- building blocks


def _bounds(db: Database, f: Filters) -> tuple[datetime, datetime]:
    """[local midnight of start, local midnight after end) as aware datetimes."""
    return day_bounds(f.start, f.end, ZoneInfo(db.timezone))


def _grain(grain: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}, not {grain!r}")
    return grain


def _in(column: str, values: tuple[str, ...], params: list[Any]) -> str:
    """`column IN (?, ?, …)` with the values appended to params ('' when no values: no filter)."""
    if not values:
        return ""
    params.extend(values)
    return f" AND {column} IN ({', '.join('?' * len(values))})"


_ENDED = f"(({STATE_SQL}) = 'ended')"  # over: ended by staff or its window closed (core.session_rules)


def _sessions_cte(db: Database, f: Filters, params: list[Any], *, ended_only: bool = True) -> str:
    """`fs`: the sessions in the filter that are over (ended_only) or have started, with their class name and
    whether they are over (`ended`).

    Local-time buckets (periods) are computed on this small side of the join, never per attendance row:
    time-zone conversion per row is what makes a query slow at 10 M rows."""
    lo, hi = _bounds(db, f)
    params.extend([lo, hi])
    sql = (f"fs AS (SELECT s.session_id, s.session_no, s.class_id, s.starts_at, c.name AS class_name, "
           f"{_ENDED} AS ended FROM sessions s JOIN classes c USING (class_id) "
           "WHERE s.starts_at >= ? AND s.starts_at < ? AND s.starts_at <= now()")
    if ended_only:
        sql += f" AND {_ENDED}"
    sql += _in("s.class_id", f.class_ids, params)
    if f.session_id is not None:
        sql += " AND s.session_id = ?"
        params.append(f.session_id)
    return sql + ")"


def _members_cte(f: Filters, params: list[Any]) -> str:
    """`fm`: members per class, counting only people in the department filter."""
    if not f.departments:
        return "fm AS (SELECT class_id, count(*) AS members FROM class_members GROUP BY class_id)"
    sql = ("fm AS (SELECT m.class_id, count(*) AS members FROM class_members m JOIN people p USING (student_id) "
           "WHERE true" + _in("p.department", f.departments, params) + " GROUP BY m.class_id)")
    return sql


def _att_filter(db: Database, f: Filters, params: list[Any], *, departments: bool = True,
                ended_only: bool = True) -> str:
    """A condition on attendance `a` for the filter, on the row's own copy of its session's start and class
    (no join: the cost at 10 M rows is the join). departments=False: the caller filters people itself.
    ended_only: rows of sessions still running are left out (few sessions: their keys are listed)."""
    lo, hi = _bounds(db, f)
    params.extend([lo, hi])
    sql = "a.starts_at >= ? AND a.starts_at < ? AND a.starts_at <= now()" + _in("a.class_id", f.class_ids, params)
    if ended_only:
        running = db.query(f"SELECT s.session_no FROM sessions s WHERE s.starts_at >= ? AND s.starts_at < ? "
                           f"AND s.starts_at <= now() AND NOT {_ENDED}", [lo, hi])["session_no"]
        running = [int(n) for n in running.dropna()]
        if running:
            sql += f" AND NOT coalesce(a.session_no IN ({', '.join('?' * len(running))}), false)"
            params.extend(running)
    if f.session_id is not None:
        sql += " AND a.session_id = ?"
        params.append(f.session_id)
    if departments and f.departments:
        sql += (" AND a.student_id IN (SELECT student_id FROM people WHERE true"
                + _in("department", f.departments, params) + ")")
    # Sessions of a class missing from `classes` are not counted (fs joins classes); rare, so checked first.
    if db.scalar("SELECT EXISTS (SELECT 1 FROM sessions WHERE class_id NOT IN (SELECT class_id FROM classes))"):
        sql += " AND a.class_id IN (SELECT class_id FROM classes)"
    return sql


def _with(db: Database, f: Filters, params: list[Any], *, members: bool = False, ended_only: bool = True) -> str:
    parts = [_sessions_cte(db, f, params, ended_only=ended_only)]
    if members:
        parts.append(_members_cte(f, params))
    return "WITH " + ", ".join(parts) + " "


_ATTENDED = "a.attended"  # status present or late (a flag written with the row)


def _rate(num: Any, den: Any) -> float | None:
    return float(num) / float(den) if den else None


# --------------------------------------------------------------------------- attendance statistics


def kpis(db: Database, f: Filters) -> dict:
    """Headline figures: attendance_rate (0..1 or None), late_rate (late / attended), absent_count,
    unique_people (distinct attendees), unknown_faces (in the period), sessions (over, in the filter)."""
    params: list[Any] = []
    sql = _with(db, f, params, members=True) + """,
        exp AS (SELECT count(*) AS sessions, coalesce(sum(fm.members), 0) AS expected
                FROM fs LEFT JOIN fm USING (class_id)),
        per AS (SELECT a.student_id, count(*) FILTER (WHERE a.attended) AS attended,
                       count(*) FILTER (WHERE a.late) AS late
                FROM attendance a WHERE """ + _att_filter(db, f, params) + """ GROUP BY a.student_id),
        att AS (SELECT coalesce(sum(attended), 0) AS attended, coalesce(sum(late), 0) AS late,
                       count(*) FILTER (WHERE attended > 0) AS uniq FROM per)
        SELECT * FROM exp, att
    """
    row = db.query(sql, params).iloc[0]
    lo, hi = _bounds(db, f)
    unknown = db.scalar("SELECT count(*) FROM unknown_faces WHERE at_time >= ? AND at_time < ?", [lo, hi])
    expected, attended, late = int(row["expected"]), int(row["attended"]), int(row["late"])
    return {"attendance_rate": _rate(min(attended, expected), expected), "late_rate": _rate(late, attended),
            "absent_count": max(expected - attended, 0), "unique_people": int(row["uniq"]),
            "unknown_faces": int(unknown or 0), "sessions": int(row["sessions"]),
            "expected": expected, "attended": attended, "late": late}


def attendance_over_time(db: Database, f: Filters, grain: str = "week") -> pd.DataFrame:
    """period (local date the period starts), class_name, expected, attended, rate — one row per period and class."""
    params: list[Any] = []
    sql = _with(db, f, params, members=True)
    params.append(_grain(grain))
    # The period is computed once per start instant (a few thousand), not per session (hundreds of thousands);
    # attendance is grouped by the session's integer key (grouping 10 M VARCHAR ids alone took ≈ 170 ms).
    sql += """,
        periods AS (SELECT starts_at, CAST(date_trunc(?, starts_at) AS DATE) AS period
                    FROM (SELECT DISTINCT starts_at FROM fs)),
        per_session AS (SELECT a.session_no, count(*) AS attended FROM attendance a
                        WHERE """ + _att_filter(db, f, params) + f" AND {_ATTENDED} GROUP BY a.session_no)" + """
        SELECT p.period, fs.class_name,
               CAST(sum(coalesce(fm.members, 0)) AS BIGINT) AS expected,
               CAST(sum(coalesce(ps.attended, 0)) AS BIGINT) AS attended
        FROM fs JOIN periods p USING (starts_at) LEFT JOIN fm USING (class_id)
             LEFT JOIN per_session ps USING (session_no)
        GROUP BY 1, 2 ORDER BY 1, 2
    """
    df = db.query(sql, params)
    df["rate"] = (df["attended"].clip(upper=df["expected"]) / df["expected"].where(df["expected"] > 0)).astype(float)
    return df


def arrivals_heatmap(db: Database, f: Filters) -> pd.DataFrame:
    """weekday (0 = Monday … 6), hour (0..23) local, arrivals (attended check-ins) — only non-empty cells."""
    params: list[Any] = []
    # Local time = UTC + the session's UTC offset (a check-in is within hours of its session's start). Rows are
    # first counted per session start and UTC quarter hour (UTC offsets are whole quarter hours), so the
    # time-zone lookup runs per group, not per row.
    sql = ("""
        WITH q AS (SELECT a.starts_at, CAST(epoch(a.checked_at) AS BIGINT) // 900 AS q, count(*) AS n
                   FROM attendance a WHERE """ + _att_filter(db, f, params, ended_only=False)
           + f" AND {_ATTENDED} GROUP BY 1, 2)," + """
        loc AS (SELECT q * 900 + CAST(date_part('timezone', starts_at) AS BIGINT) AS t, n FROM q)
        SELECT CAST((t // 86400 + 3) % 7 AS INTEGER) AS weekday, CAST(t % 86400 // 3600 AS INTEGER) AS hour,
               CAST(sum(n) AS BIGINT) AS arrivals
        FROM loc GROUP BY ALL ORDER BY weekday, hour
    """)
    return db.query(sql, params)


def lateness(db: Database, f: Filters, sample: int | None = SAMPLE_ROWS) -> pd.DataFrame:
    """minutes_after_start (float; negative = early) and status, one row per attendance row.

    For a histogram: above `sample` rows a deterministic sample of about that size is returned (None = every row).
    """
    params: list[Any] = []
    inner = ("SELECT epoch(a.checked_at - a.starts_at) / 60.0 AS minutes_after_start, a.status FROM attendance a "
             "WHERE " + _att_filter(db, f, params, ended_only=False) + f" AND {_ATTENDED}{{sample}}")
    return _sampled(db, inner, params, sample)


def _sampled(db: Database, inner: str, params: list[Any], sample: int | None) -> pd.DataFrame:
    """Run `inner` (a SELECT over attendance `a` ending in its WHERE clause, with a `{sample}` marker at the end);
    above `sample` rows keep a deterministic pseudo-random subset of ~`sample` rows (a hash of the check-in
    instant, so the same rows each time; cheaper than a reservoir over millions)."""
    everything = inner.replace("{sample}", "")
    if sample is None:
        return db.query(everything, params)
    select = everything.removeprefix("SELECT ")
    total = db.scalar("SELECT count(*) FROM (SELECT " + select + ")", params) or 0
    if total <= sample:
        return db.query(everything, params)
    keep = int(sample / total * 1_000_000)
    return db.query(inner.replace("{sample}", " AND hash(a.checked_at) % 1000000 < ?"), [*params, keep])


def departments(db: Database, f: Filters) -> pd.DataFrame:
    """department, expected, attended, late, rate, late_rate (the person's department)."""
    params: list[Any] = []
    sql = _with(db, f, params) + """,
        per_class AS (SELECT class_id, count(*) AS sessions FROM fs GROUP BY class_id),
        exp AS (SELECT p.department, sum(pc.sessions) AS expected
                FROM per_class pc JOIN class_members m USING (class_id) JOIN people p USING (student_id)
                WHERE true""" + _in("p.department", f.departments, params) + """ GROUP BY p.department),
        per AS (SELECT a.student_id, count(*) FILTER (WHERE a.attended) AS attended,
                       count(*) FILTER (WHERE a.late) AS late
                FROM attendance a WHERE """ + _att_filter(db, f, params, departments=False) + """
                GROUP BY a.student_id),
        att AS (SELECT p.department, sum(per.attended) AS attended, sum(per.late) AS late
                FROM per JOIN people p USING (student_id)
                WHERE true""" + _in("p.department", f.departments, params) + """ GROUP BY p.department)
        SELECT coalesce(exp.department, att.department) AS department,
               CAST(coalesce(exp.expected, 0) AS BIGINT) AS expected, CAST(coalesce(att.attended, 0) AS BIGINT)
               AS attended, CAST(coalesce(att.late, 0) AS BIGINT) AS late
        FROM exp FULL JOIN att ON exp.department IS NOT DISTINCT FROM att.department
        ORDER BY department NULLS LAST
    """
    df = db.query(sql, params)
    df["rate"] = (df["attended"].clip(upper=df["expected"]) / df["expected"].where(df["expected"] > 0)).astype(float)
    df["late_rate"] = (df["late"] / df["attended"].where(df["attended"] > 0)).astype(float)
    return df


def people_summary(db: Database, f: Filters) -> pd.DataFrame:
    """student_id, name, department, expected, present, late, absent, rate — one row per member (drill-down)."""
    params: list[Any] = []
    sql = _with(db, f, params) + """,
        per_class AS (SELECT class_id, count(*) AS sessions FROM fs GROUP BY class_id),
        exp AS (SELECT m.student_id, sum(pc.sessions) AS expected
                FROM per_class pc JOIN class_members m USING (class_id) GROUP BY m.student_id),
        att AS (SELECT a.student_id, count(*) FILTER (WHERE a.attended AND NOT a.late) AS present,
                       count(*) FILTER (WHERE a.late) AS late
                FROM attendance a WHERE """ + _att_filter(db, f, params, departments=False) + """
                GROUP BY a.student_id)
        SELECT p.student_id, p.name, p.department, CAST(coalesce(exp.expected, 0) AS BIGINT) AS expected,
               CAST(coalesce(att.present, 0) AS BIGINT) AS present, CAST(coalesce(att.late, 0) AS BIGINT) AS late
        FROM exp FULL JOIN att USING (student_id) JOIN people p USING (student_id)
        WHERE true""" + _in("p.department", f.departments, params) + f"""
        ORDER BY {sort_sql("p.name")}, p.student_id
    """
    df = db.query(sql, params)
    attended = df["present"] + df["late"]
    df["absent"] = (df["expected"] - attended).clip(lower=0)
    df["rate"] = (attended.clip(upper=df["expected"]) / df["expected"].where(df["expected"] > 0)).astype(float)
    return df


def person_history(db: Database, f: Filters, student_id: str) -> pd.DataFrame:
    """starts_at, class_name, status (present / late / absent / excused …, or "not yet"), checked_at,
    minutes_after_start — every started session of the person's classes in the filter, newest first; no record is
    absent once the session is over, "not yet" while it runs (as on the session's roster)."""
    params: list[Any] = []
    sql = _with(db, f, params, ended_only=False) + """
        SELECT fs.starts_at, fs.class_name, fs.session_id,
               coalesce(a.status, CASE WHEN fs.ended THEN 'absent' ELSE 'not yet' END) AS status, a.checked_at,
               epoch(a.checked_at - fs.starts_at) / 60.0 AS minutes_after_start, a.method, a.score
        FROM fs JOIN class_members m ON m.class_id = fs.class_id AND m.student_id = ?
        LEFT JOIN attendance a ON a.session_id = fs.session_id AND a.student_id = m.student_id
        ORDER BY fs.starts_at DESC, fs.class_name
    """
    return db.query(sql, [*params, student_id])


def people_counted(db: Database, f: Filters, grain: str = "day") -> pd.DataFrame:
    """period, unique_people: distinct people who attended (present / late) in each local period."""
    params: list[Any] = []
    # Exact distinct counts without a hash table of millions of (period, person) pairs: per session start, a
    # bitmap of the people (bit = the row's integer person_no; bitstring_agg sizes it from the column's
    # statistics: 2.5 kB at 20,000 people), OR-ed per period, then its set bits counted. The local period is
    # computed per start instant, not per row, so it is right across daylight-saving changes at no cost.
    sql = ("WITH per_start AS (SELECT a.starts_at, bitstring_agg(a.person_no) AS people FROM attendance a "
           "WHERE " + _att_filter(db, f, params, ended_only=False) + f" AND {_ATTENDED} GROUP BY 1) "
           "SELECT CAST(date_trunc(?, starts_at) AS DATE) AS period, bit_count(bit_or(people)) AS unique_people "
           "FROM per_start GROUP BY 1 ORDER BY 1")
    return db.query(sql, [*params, _grain(grain)])


def recognition_scores(db: Database, f: Filters, sample: int | None = SAMPLE_ROWS) -> pd.DataFrame:
    """score, method: attendance rows with a recognition score (deterministic sample above `sample` rows)."""
    params: list[Any] = []
    inner = ("SELECT a.score, a.method FROM attendance a WHERE " + _att_filter(db, f, params, ended_only=False)
             + " AND a.score IS NOT NULL{sample}")
    return _sampled(db, inner, params, sample)


def unknowns_per_day(db: Database, f: Filters) -> pd.DataFrame:
    """day (local), unknowns: faces seen but not recognised. Only the date range applies (no class or person)."""
    lo, hi = _bounds(db, f)
    return db.query("SELECT CAST(at_time AS DATE) AS day, count(*) AS unknowns FROM unknown_faces "
                    "WHERE at_time >= ? AND at_time < ? GROUP BY 1 ORDER BY 1", [lo, hi])


def attendance_rows(db: Database, f: Filters, chunk_rows: int = 50_000, *,
                    include_absent: bool = False) -> Iterator[pd.DataFrame]:
    """The detail table for exports, streamed in DataFrames of at most `chunk_rows` rows:
    session_id, class_name, starts_at, student_id, name, department, status, checked_at, method, score.

    Every started session's records; with include_absent, members without a record of a session that is over
    appear with status 'absent' (and no check-in). People in a session in name order (core.names)."""
    params: list[Any] = []
    if include_absent:
        sql = _with(db, f, params, ended_only=False) + """
            SELECT fs.session_id, fs.class_name, fs.starts_at, p.student_id, p.name, p.department,
                   coalesce(a.status, 'absent') AS status, a.checked_at, a.method, a.score
            FROM fs JOIN class_members m USING (class_id) JOIN people p ON p.student_id = m.student_id
            LEFT JOIN attendance a ON a.session_id = fs.session_id AND a.student_id = m.student_id
            WHERE (a.status IS NOT NULL OR fs.ended) {dept}
            ORDER BY fs.starts_at, fs.session_id, {name}, p.student_id
        """
    else:
        sql = _with(db, f, params, ended_only=False) + """
            SELECT fs.session_id, fs.class_name, fs.starts_at, a.student_id, p.name, p.department,
                   a.status, a.checked_at, a.method, a.score
            FROM attendance a JOIN fs USING (session_id) LEFT JOIN people p ON p.student_id = a.student_id
            WHERE true {dept}
            ORDER BY fs.starts_at, fs.session_id, {name}, a.student_id
        """
    sql = sql.replace("{name}", sort_sql("p.name"))
    dept = _in("p.department", f.departments, params)
    with db.reading() as cur:
        reader = cur.sql(sql.replace("{dept}", dept), params=params).to_arrow_reader(chunk_rows)
        for batch in reader:
            if batch.num_rows:
                yield batch.to_pandas()


EXPORT_COLUMNS = ["session_id", "class_name", "starts_at", "student_id", "name", "department", "status",
                  "checked_at", "method", "score"]


# --------------------------------------------------------------------------- ceremonies


def graduates_per_minute(db: Database, ceremony_id: str) -> pd.DataFrame:
    """minute (local), received: diplomas handed over per minute, from the first to the last (gaps = 0)."""
    return db.query(
        """
        WITH per AS (SELECT date_trunc('minute', received_at) AS minute, count(*) AS received
                     FROM ceremony_entries WHERE ceremony_id = ? AND received_at IS NOT NULL GROUP BY 1),
             span AS (SELECT unnest(generate_series(min(minute), max(minute), INTERVAL 1 MINUTE)) AS minute
                      FROM per HAVING count(*) > 0)
        SELECT span.minute, coalesce(per.received, 0) AS received
        FROM span LEFT JOIN per USING (minute) ORDER BY span.minute
        """,
        [ceremony_id],
    )


def _between(db: Database, ceremony_id: str, start: str, end: str) -> pd.DataFrame:
    # `start` and `end` are fixed column names from the two callers below, never user input.
    return db.query(
        f"""
        SELECT e.student_id, coalesce(p.name, e.student_id) AS name, epoch(e.{end} - e.{start}) AS seconds
        FROM ceremony_entries e LEFT JOIN people p USING (student_id)
        WHERE e.ceremony_id = ? AND e.{start} IS NOT NULL AND e.{end} IS NOT NULL
        ORDER BY e.order_no
        """,
        [ceremony_id],
    )


def time_on_stage(db: Database, ceremony_id: str) -> pd.DataFrame:
    """student_id, name, seconds between stepping on stage and receiving (entries with both times)."""
    return _between(db, ceremony_id, "on_stage_at", "received_at")


def call_to_stage(db: Database, ceremony_id: str) -> pd.DataFrame:
    """student_id, name, seconds between the call and stepping on stage (entries with both times)."""
    return _between(db, ceremony_id, "called_at", "on_stage_at")


def no_show_by_department(db: Database, ceremony_id: str) -> pd.DataFrame:
    """department, graduates (entries), absent (status absent = no-show), rate (absent / graduates)."""
    df = db.query(
        """
        SELECT p.department, count(*) AS graduates, count(*) FILTER (WHERE e.status = 'absent') AS absent
        FROM ceremony_entries e LEFT JOIN people p USING (student_id)
        WHERE e.ceremony_id = ? GROUP BY p.department ORDER BY p.department NULLS LAST
        """,
        [ceremony_id],
    )
    df["rate"] = (df["absent"] / df["graduates"]).astype(float)
    return df


def ceremony_timeline(db: Database, ceremony_id: str) -> pd.DataFrame:
    """student_id, name, department, order_no, status, called_at, on_stage_at, received_at — in order (a graduate
    with no name, e.g. erased, by their id)."""
    return db.query(
        """
        SELECT e.student_id, coalesce(p.name, e.student_id) AS name, p.department, e.order_no, e.status, e.called_at,
               e.on_stage_at, e.received_at
        FROM ceremony_entries e LEFT JOIN people p USING (student_id)
        WHERE e.ceremony_id = ? ORDER BY e.order_no
        """,
        [ceremony_id],
    )
