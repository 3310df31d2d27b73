"""Statistics against a small hand-computed read model, and the synthetic generator's consistency.

The data set (local time Asia/Bangkok, late after 10 min):

    people   A1 Eng, A2 Eng, A3 Bus, A4 Bus
    classes  C1 Vision (A1 A2 A3), C2 Marketing (A3 A4)
    S1 C1 Mon 2025-03-03 09:00  A1 present 08:55 (face .80)  A2 late 09:15 (face .70)  A3 —
    S2 C1 Mon 2025-03-10 09:00  A1 present 09:02 (qr)  A2 present 08:58 (face .90)  A3 present 09:05 (face .60)
    S3 C2 Wed 2025-03-05 13:00  A3 late 13:12 (manual)  A4 present 12:50 (face .75)
    S4 C2 Wed 2025-03-12 13:00  A3 excused 13:00 (manual)  A4 —
    S5 C1 2099 (not started: never counted)

    expected 3+3+2+2 = 10, attended 2+3+2+0 = 7, late 2, absent 3.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pytest

from core import analytics as A
from core import exports, synth
from core.db import Database
from core.eventlog import Event
from core.projections import apply, person_keys
from core.schema import MIGRATIONS
from core.timeutil import to_ms

TZ = ZoneInfo("Asia/Bangkok")
MARCH = A.Filters(date(2025, 3, 1), date(2025, 3, 31))


def local(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=TZ)


@pytest.fixture
def db(app):
    assert app.settings.timezone == "Asia/Bangkok"
    db = app.db
    with db.write() as cur:
        t0 = local(2025, 1, 1, 0)
        for sid, name, dept in [("A1", "Alice", "Eng"), ("A2", "Bob", "Eng"), ("A3", "Chai", "Bus"),
                                ("A4", "Dao", "Bus")]:
            cur.execute("INSERT INTO people (student_id, name, department, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?)", [sid, name, dept, t0, t0])
        cur.execute("INSERT INTO classes VALUES ('C1', 'Vision', 'Eng', 'T'), ('C2', 'Marketing', 'Bus', 'T')")
        cur.execute("INSERT INTO class_members VALUES ('C1', 'A1'), ('C1', 'A2'), ('C1', 'A3'), ('C2', 'A3'), "
                    "('C2', 'A4')")
        sessions = [("S1", "C1", local(2025, 3, 3, 9)), ("S2", "C1", local(2025, 3, 10, 9)),
                    ("S3", "C2", local(2025, 3, 5, 13)), ("S4", "C2", local(2025, 3, 12, 13)),
                    ("S5", "C1", local(2099, 1, 5, 9))]
        for no, (sess, cls, start) in enumerate(sessions, 1):
            cur.execute("INSERT INTO sessions (session_id, class_id, starts_at, ends_at, late_after_min, session_no) "
                        "VALUES (?, ?, ?, ?, 10, ?)", [sess, cls, start, start + timedelta(hours=2), no])
        rows = [("S1", "A1", "present", local(2025, 3, 3, 8, 55), "face", 0.80),
                ("S1", "A2", "late", local(2025, 3, 3, 9, 15), "face", 0.70),
                ("S2", "A1", "present", local(2025, 3, 10, 9, 2), "qr", None),
                ("S2", "A2", "present", local(2025, 3, 10, 8, 58), "face", 0.90),
                ("S2", "A3", "present", local(2025, 3, 10, 9, 5), "face", 0.60),
                ("S3", "A3", "late", local(2025, 3, 5, 13, 12), "manual", None),
                ("S3", "A4", "present", local(2025, 3, 5, 12, 50), "face", 0.75),
                ("S4", "A3", "excused", local(2025, 3, 12, 13), "manual", None)]
        person_keys(cur, [r[1] for r in rows])  # as the fold hands them out: in order of first check-in
        for sess, sid, status, at, method, score in rows:
            cur.execute("INSERT INTO attendance (session_id, student_id, status, checked_at, method, score, event_id, "
                        "attended, late, person_no, class_id, starts_at, session_no) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                        "?, class_id, starts_at, session_no FROM sessions WHERE session_id = ?",
                        [sess, sid, status, at, method, score, f"e:{sess}:{sid}", status in ("present", "late"),
                         status == "late", cur.execute("SELECT person_no FROM person_keys WHERE student_id = ?",
                                                       [sid]).fetchall()[0][0], sess])
        unknown = [local(2025, 3, 3, 9, 1), local(2025, 3, 3, 9, 30), local(2025, 3, 5, 13),
                   local(2025, 3, 1, 0, 30),    # inside by local day (still Feb 28 in UTC)
                   local(2025, 2, 28, 23, 30)]  # outside
        for n, at in enumerate(unknown):
            cur.execute("INSERT INTO unknown_faces VALUES (?, ?, 'cam', 0.3)", [f"u{n}", at])
        cur.execute("INSERT INTO ceremonies (ceremony_id, name, on_date, created_at) VALUES "
                    "('G1', 'Grad', DATE '2025-03-20', ?)", [t0])
        entries = [("A1", 1, "received", local(2025, 3, 20, 10, 0, 0), local(2025, 3, 20, 10, 0, 20),
                    local(2025, 3, 20, 10, 0, 30)),
                   ("A2", 2, "received", local(2025, 3, 20, 10, 0, 30), local(2025, 3, 20, 10, 0, 45),
                    local(2025, 3, 20, 10, 0, 57)),
                   ("A3", 3, "absent", local(2025, 3, 20, 10, 1, 0), None, None),
                   ("A4", 4, "received", local(2025, 3, 20, 10, 1, 30), local(2025, 3, 20, 10, 2, 10),
                    local(2025, 3, 20, 10, 2, 25))]
        for sid, order, status, called, stage, received in entries:
            cur.execute("INSERT INTO ceremony_entries (ceremony_id, student_id, order_no, status, called_at, "
                        "on_stage_at, received_at) VALUES ('G1', ?, ?, ?, ?, ?, ?)",
                        [sid, order, status, called, stage, received])
    return db


def test_kpis(db):
    k = A.kpis(db, MARCH)
    assert k["sessions"] == 4
    assert (k["expected"], k["attended"], k["late"], k["absent_count"]) == (10, 7, 2, 3)
    assert k["attendance_rate"] == pytest.approx(0.7)
    assert k["late_rate"] == pytest.approx(2 / 7)
    assert k["unique_people"] == 4
    assert k["unknown_faces"] == 4


def test_filters_change_the_numbers(db):
    c2 = A.kpis(db, A.Filters(MARCH.start, MARCH.end, class_ids=("C2",)))
    assert (c2["sessions"], c2["expected"], c2["attended"], c2["late"], c2["unique_people"]) == (2, 4, 2, 1, 2)
    assert c2["attendance_rate"] == pytest.approx(0.5)
    eng = A.kpis(db, A.Filters(MARCH.start, MARCH.end, departments=("Eng",)))
    assert (eng["expected"], eng["attended"], eng["late"], eng["unique_people"]) == (4, 4, 1, 2)
    assert eng["attendance_rate"] == pytest.approx(1.0)
    week1 = A.kpis(db, A.Filters(date(2025, 3, 1), date(2025, 3, 7)))
    assert (week1["sessions"], week1["expected"], week1["attended"], week1["absent_count"]) == (2, 5, 4, 1)
    assert week1["unknown_faces"] == 4
    s2 = A.kpis(db, A.Filters(MARCH.start, MARCH.end, session_id="S2"))
    assert (s2["sessions"], s2["expected"], s2["attended"]) == (1, 3, 3)
    both = A.kpis(db, A.Filters(MARCH.start, MARCH.end, class_ids=("C1", "C2"), departments=("Bus", "Eng")))
    assert both["expected"] == 10 and both["attended"] == 7
    # A session that has not started yet is never expected.
    future = A.kpis(db, A.Filters(date(2099, 1, 1), date(2099, 1, 31)))
    assert future["sessions"] == 0 and future["attendance_rate"] is None and future["late_rate"] is None


def test_sessions_not_over_lower_no_rate(db):
    """Issue #13: a session open now (started by staff, one check-in so far), one whose window is open but not
    started, and one tomorrow count neither as expected nor as absent; only sessions that are over do."""
    before = {"departments": A.departments(db, MARCH), "people": A.people_summary(db, MARCH)}
    now = datetime.now(TZ)
    with db.write() as cur:
        for no, (sess, start, status) in enumerate([("S6", now - timedelta(minutes=30), "active"),
                                                    ("S7", now - timedelta(minutes=5), "scheduled"),
                                                    ("S8", now + timedelta(days=1), "scheduled")], 6):
            cur.execute("INSERT INTO sessions (session_id, class_id, starts_at, ends_at, late_after_min, status, "
                        "session_no) VALUES (?, 'C1', ?, ?, 10, ?, ?)",
                        [sess, start, start + timedelta(hours=2), status, no])
        cur.execute("INSERT INTO attendance (session_id, student_id, status, checked_at, method, event_id, attended, "
                    "late, person_no, class_id, starts_at, session_no) SELECT 'S6', 'A1', 'present', ?, 'face', "
                    "'e:S6:A1', true, false, 1, class_id, starts_at, session_no FROM sessions WHERE session_id = 'S6'",
                    [now - timedelta(minutes=25)])
    to_now = A.Filters(MARCH.start, now.date() + timedelta(days=2))
    k = A.kpis(db, to_now)
    assert (k["sessions"], k["expected"], k["attended"], k["absent_count"]) == (4, 10, 7, 3)
    assert k["attendance_rate"] == pytest.approx(0.7) and k["late_rate"] == pytest.approx(2 / 7)
    today = A.kpis(db, A.Filters(now.date() - timedelta(days=1), now.date() + timedelta(days=2)))
    assert today["sessions"] == 0 and today["attendance_rate"] is None and today["absent_count"] == 0
    over_time = A.attendance_over_time(db, to_now, "month")
    assert (over_time["expected"].sum(), over_time["attended"].sum()) == (10, 7)
    pd.testing.assert_frame_equal(A.departments(db, to_now), before["departments"])
    pd.testing.assert_frame_equal(A.people_summary(db, to_now), before["people"])
    # Listings show what is there: the open session's record, and no absence until it is over.
    history = A.person_history(db, to_now, "A2")
    assert history["status"].tolist() == ["not yet", "not yet", "present", "late"]
    assert A.person_history(db, to_now, "A1")["status"].tolist()[:2] == ["not yet", "present"]
    rows = pd.concat(A.attendance_rows(db, to_now, include_absent=True), ignore_index=True)
    assert rows.loc[rows["session_id"].isin(["S6", "S7", "S8"]), ["session_id", "student_id", "status"]] \
        .values.tolist() == [["S6", "A1", "present"]]
    assert sorted(rows.loc[rows["status"] == "absent", "student_id"]) == ["A3", "A4"]  # as before: March only


def test_attendance_over_time(db):
    df = A.attendance_over_time(db, MARCH, "week")
    got = [(r.period, r.class_name, r.expected, r.attended, round(r.rate, 4)) for r in df.itertuples()]
    assert got == [(pd.Timestamp("2025-03-03"), "Marketing", 2, 2, 1.0),
                   (pd.Timestamp("2025-03-03"), "Vision", 3, 2, round(2 / 3, 4)),
                   (pd.Timestamp("2025-03-10"), "Marketing", 2, 0, 0.0),
                   (pd.Timestamp("2025-03-10"), "Vision", 3, 3, 1.0)]
    month = A.attendance_over_time(db, MARCH, "month")
    assert month.groupby("period")[["expected", "attended"]].sum().to_dict("records") == [
        {"expected": 10, "attended": 7}]
    with pytest.raises(ValueError):
        A.attendance_over_time(db, MARCH, "minute; DROP TABLE people")


def test_arrivals_heatmap(db):
    df = A.arrivals_heatmap(db, MARCH)
    cells = {(r.weekday, r.hour): r.arrivals for r in df.itertuples()}
    assert cells == {(0, 8): 2, (0, 9): 3, (2, 12): 1, (2, 13): 1}  # local hours, Monday = 0; excused not counted


def test_lateness(db):
    df = A.lateness(db, MARCH)
    assert sorted(df["minutes_after_start"].round(6)) == [-10, -5, -2, 2, 5, 12, 15]
    assert set(df.loc[df["minutes_after_start"] > 10, "status"]) == {"late"}
    sampled = A.lateness(db, MARCH, sample=3)  # a deterministic subset (a hash of the check-in instant)
    assert len(sampled) < 7 and sampled.equals(A.lateness(db, MARCH, sample=3))
    assert len(A.lateness(db, MARCH, sample=None)) == 7


def test_departments(db):
    df = A.departments(db, MARCH).set_index("department")
    assert df.loc["Eng", ["expected", "attended", "late"]].tolist() == [4, 4, 1]
    assert df.loc["Eng", "rate"] == pytest.approx(1.0) and df.loc["Eng", "late_rate"] == pytest.approx(0.25)
    assert df.loc["Bus", ["expected", "attended", "late"]].tolist() == [6, 3, 1]
    assert df.loc["Bus", "rate"] == pytest.approx(0.5) and df.loc["Bus", "late_rate"] == pytest.approx(1 / 3)
    only_bus = A.departments(db, A.Filters(MARCH.start, MARCH.end, departments=("Bus",)))
    assert only_bus["department"].tolist() == ["Bus"]
    c1 = A.departments(db, A.Filters(MARCH.start, MARCH.end, class_ids=("C1",))).set_index("department")
    assert c1.loc["Bus", ["expected", "attended"]].tolist() == [2, 1]


def test_people_summary(db):
    df = A.people_summary(db, MARCH).set_index("student_id")
    cols = ["expected", "present", "late", "absent"]
    assert df.loc["A1", cols].tolist() == [2, 2, 0, 0]
    assert df.loc["A2", cols].tolist() == [2, 1, 1, 0]
    assert df.loc["A3", cols].tolist() == [4, 1, 1, 2]
    assert df.loc["A4", cols].tolist() == [2, 1, 0, 1]
    assert df["rate"].round(4).tolist() == [1.0, 1.0, 0.5, 0.5]
    assert df.loc["A3", "name"] == "Chai" and df.loc["A3", "department"] == "Bus"
    eng = A.people_summary(db, A.Filters(MARCH.start, MARCH.end, departments=("Eng",)))
    assert eng["student_id"].tolist() == ["A1", "A2"]


def test_person_history_has_the_absence(db):
    df = A.person_history(db, MARCH, "A3")
    assert df["status"].tolist() == ["excused", "present", "late", "absent"]
    assert df["class_name"].tolist() == ["Marketing", "Vision", "Marketing", "Vision"]
    assert df["starts_at"].iloc[-1] == pd.Timestamp(local(2025, 3, 3, 9))
    assert pd.isna(df["checked_at"].iloc[-1]) and pd.isna(df["minutes_after_start"].iloc[-1])
    assert df["minutes_after_start"].iloc[:3].tolist() == pytest.approx([0, 5, 12])
    assert A.person_history(db, A.Filters(MARCH.start, MARCH.end, class_ids=("C2",)), "A3")["status"].tolist() \
        == ["excused", "late"]


def test_people_counted_scores_unknowns(db):
    df = A.people_counted(db, MARCH, "day")
    assert [(r.period.date(), r.unique_people) for r in df.itertuples()] == [
        (date(2025, 3, 3), 2), (date(2025, 3, 5), 2), (date(2025, 3, 10), 3)]
    scores = A.recognition_scores(db, MARCH)
    assert sorted(scores["score"]) == pytest.approx([0.6, 0.7, 0.75, 0.8, 0.9])
    assert set(scores["method"]) == {"face"}
    un = A.unknowns_per_day(db, MARCH)
    assert [(r.day.date(), r.unknowns) for r in un.itertuples()] == [
        (date(2025, 3, 1), 1), (date(2025, 3, 3), 2), (date(2025, 3, 5), 1)]


def test_people_counted_other_grains(db):
    week = A.people_counted(db, MARCH, "week")
    assert [(r.period.date(), r.unique_people) for r in week.itertuples()] == [
        (date(2025, 3, 3), 4), (date(2025, 3, 10), 3)]
    month = A.people_counted(db, MARCH, "month")
    assert [(r.period.date(), r.unique_people) for r in month.itertuples()] == [(date(2025, 3, 1), 4)]
    bus = A.people_counted(db, A.Filters(MARCH.start, MARCH.end, departments=("Bus",)), "week")
    assert [(r.period.date(), r.unique_people) for r in bus.itertuples()] == [
        (date(2025, 3, 3), 2), (date(2025, 3, 10), 1)]


def test_a_folded_check_in_carries_its_session_and_status(app, db):
    """The projection copies the session's class and start, and the status flags, onto the row."""
    at_ms = int(local(2025, 3, 12, 13, 20).timestamp() * 1000)
    app.submit(Event.new("attendance.recorded", {"session_id": "S4", "student_id": "A4", "status": "late",
                                                 "method": "qr", "at_ms": at_ms}, actor="test"))
    row = db.query("SELECT * FROM attendance WHERE session_id = 'S4' AND student_id = 'A4'").iloc[0]
    assert row["class_id"] == "C2" and row["starts_at"] == pd.Timestamp(local(2025, 3, 12, 13))
    assert bool(row["attended"]) and bool(row["late"])
    assert row["person_no"] == 4  # A4's key, given with A4's first row
    k = A.kpis(db, MARCH)
    assert (k["attended"], k["late"], k["absent_count"]) == (8, 3, 2)
    assert A.people_counted(db, MARCH, "day")["unique_people"].tolist() == [2, 2, 3, 1]


def test_person_keys_are_given_once_per_person(app, db):
    for sess, sid in [("S4", "A9"), ("S1", "A9"), ("S4", "A4")]:
        app.submit(Event.new("attendance.recorded", {"session_id": sess, "student_id": sid, "status": "present",
                                                     "method": "manual"}, actor="test"))
    keys = dict(db.query("SELECT student_id, person_no FROM person_keys").values.tolist())
    assert keys == {"A1": 1, "A2": 2, "A3": 3, "A4": 4, "A9": 5}
    assert db.scalar("SELECT count(*) FROM attendance a JOIN person_keys k USING (student_id) "
                     "WHERE a.person_no <> k.person_no") == 0
    assert A.people_counted(db, MARCH, "month")["unique_people"].tolist() == [5]


def test_the_migration_gives_existing_rows_person_keys(tmp_path):
    number = next(i for i, sql in enumerate(MIGRATIONS) if "CREATE TABLE person_keys" in sql)
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version, sql in enumerate(MIGRATIONS[:number], start=1):
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?)", [version])
    for sess, sid in [("S1", "B"), ("S1", "A"), ("S2", "B")]:
        con.execute("INSERT INTO attendance (session_id, student_id, status, checked_at, method, event_id) "
                    "VALUES (?, ?, 'present', now(), 'qr', ?)", [sess, sid, sess + sid])
    con.close()
    db = Database(path)
    assert db.query("SELECT student_id, person_no FROM attendance ORDER BY 1, session_id").values.tolist() == [
        ["A", 1], ["B", 2], ["B", 2]]
    db.close()


def test_people_counted_across_daylight_saving(tmp_path):
    """Local days and weeks stay right when the UTC offset changes inside the range (Berlin, 30 March 2025)."""
    berlin = ZoneInfo("Europe/Berlin")
    starts = {"S1": datetime(2025, 3, 29, 23, 30, tzinfo=berlin),  # UTC+1
              "S2": datetime(2025, 3, 30, 22, 0, tzinfo=berlin),   # UTC+2: 20:00 UTC
              "S3": datetime(2025, 3, 31, 0, 30, tzinfo=berlin)}   # 22:30 UTC on the 30th, local the 31st
    db = Database(tmp_path / "dst.duckdb", timezone="Europe/Berlin")
    with db.write() as cur:
        cur.execute("INSERT INTO classes VALUES ('C1', 'Night class', NULL, NULL)")
        for sess, start in starts.items():
            ms = int(start.timestamp() * 1000)
            apply(cur, Event.new("session.scheduled", {"session_id": sess, "class_id": "C1", "starts_at_ms": ms,
                                                       "ends_at_ms": ms + 3_600_000}))
        for sess, sid in [("S1", "P1"), ("S1", "P2"), ("S2", "P1"), ("S3", "P2"), ("S3", "P3")]:
            apply(cur, Event.new("attendance.recorded", {"session_id": sess, "student_id": sid, "status": "present",
                                                         "method": "qr", "at_ms": to_ms(starts[sess])}))
    f = A.Filters(date(2025, 3, 29), date(2025, 3, 31))
    day = A.people_counted(db, f, "day")
    assert [(r.period.date(), r.unique_people) for r in day.itertuples()] == [
        (date(2025, 3, 29), 2), (date(2025, 3, 30), 1), (date(2025, 3, 31), 2)]
    week = A.people_counted(db, f, "week")
    assert [(r.period.date(), r.unique_people) for r in week.itertuples()] == [
        (date(2025, 3, 24), 2), (date(2025, 3, 31), 2)]
    db.close()


def test_attendance_rows_stream(db, tmp_path):
    chunks = list(A.attendance_rows(db, MARCH, chunk_rows=3))
    assert all(len(c) <= 3 for c in chunks)
    rows = pd.concat(chunks, ignore_index=True)
    assert list(rows.columns) == A.EXPORT_COLUMNS
    assert len(rows) == 8 and rows["starts_at"].is_monotonic_increasing
    assert rows.loc[rows["student_id"] == "A4", "name"].tolist() == ["Dao"]
    with_absent = pd.concat(A.attendance_rows(db, MARCH, include_absent=True), ignore_index=True)
    assert len(with_absent) == 10
    assert sorted(with_absent.loc[with_absent["status"] == "absent", "student_id"]) == ["A3", "A4"]
    bus = pd.concat(A.attendance_rows(db, A.Filters(MARCH.start, MARCH.end, departments=("Bus",))))
    assert sorted(bus["student_id"]) == ["A3", "A3", "A3", "A4"]
    out = tmp_path / "x.csv"
    assert exports.export_csv(db, MARCH, out, chunk_rows=3) == 8
    back = pd.read_csv(out, encoding="utf-8-sig")
    assert len(back) == 8 and list(back.columns) == A.EXPORT_COLUMNS
    assert exports.export_csv(db, A.Filters(date(2020, 1, 1), date(2020, 1, 2)), out) == 0


def test_ceremony_statistics(db):
    gpm = A.graduates_per_minute(db, "G1")
    assert [(r.minute.strftime("%H:%M"), r.received) for r in gpm.itertuples()] == [
        ("10:00", 2), ("10:01", 0), ("10:02", 1)]
    stage = A.time_on_stage(db, "G1")
    assert stage["student_id"].tolist() == ["A1", "A2", "A4"]
    assert stage["seconds"].tolist() == pytest.approx([10, 12, 15])
    call = A.call_to_stage(db, "G1")
    assert call["seconds"].tolist() == pytest.approx([20, 15, 40])
    ns = A.no_show_by_department(db, "G1").set_index("department")
    assert ns.loc["Bus", ["graduates", "absent"]].tolist() == [2, 1] and ns.loc["Bus", "rate"] == pytest.approx(0.5)
    assert ns.loc["Eng", ["graduates", "absent"]].tolist() == [2, 0] and ns.loc["Eng", "rate"] == 0
    tl = A.ceremony_timeline(db, "G1")
    assert tl["order_no"].tolist() == [1, 2, 3, 4]
    assert tl["status"].tolist() == ["received", "received", "absent", "received"]
    assert pd.isna(tl.loc[2, "on_stage_at"])
    assert A.graduates_per_minute(db, "nope").empty


def test_a_graduate_with_no_name_is_shown_by_id(db):
    """Issue #13: an erased graduate (a pseudonym, no longer in people) had no name: the charts' labels were NaN."""
    with db.write() as cur:
        cur.execute("DELETE FROM people WHERE student_id = 'A2'")
    assert A.ceremony_timeline(db, "G1")["name"].tolist() == ["Alice", "A2", "Chai", "Dao"]
    assert A.time_on_stage(db, "G1")["name"].tolist() == ["Alice", "A2", "Dao"]
    assert A.call_to_stage(db, "G1")["name"].tolist() == ["Alice", "A2", "Dao"]


def test_synth_is_consistent(app):
    db = app.db
    today = date(2025, 6, 13)
    counts = synth.generate(db, people=200, days=14, today=today, seed=3)
    assert counts["people"] == 200 and counts["attendance"] > 1000 and counts["ceremonies"] == 3
    # Only members, once per session; check-ins on the session's local day, near its start.
    assert db.scalar("SELECT count(*) FROM attendance a JOIN sessions s USING (session_id) "
                     "ANTI JOIN class_members m ON m.class_id = s.class_id AND m.student_id = a.student_id") == 0
    assert db.scalar("SELECT count(*) FROM attendance a JOIN sessions s USING (session_id) "
                     "WHERE CAST(a.checked_at AS DATE) <> CAST(s.starts_at AS DATE) "
                     "OR a.checked_at < s.starts_at - INTERVAL 15 MINUTE OR a.checked_at > s.ends_at") == 0
    assert db.scalar("SELECT count(*) FROM attendance a JOIN sessions s USING (session_id) WHERE "
                     "a.status = 'late' AND a.checked_at <= s.starts_at + to_minutes(s.late_after_min)") == 0
    # The copies on each row agree with its session and status.
    assert db.scalar("SELECT count(*) FROM attendance a JOIN sessions s USING (session_id) WHERE "
                     "a.class_id IS DISTINCT FROM s.class_id OR a.starts_at IS DISTINCT FROM s.starts_at OR "
                     "a.attended IS DISTINCT FROM (a.status IN ('present', 'late')) OR "
                     "a.late IS DISTINCT FROM (a.status = 'late')") == 0
    assert db.scalar("SELECT count(*) FROM attendance a LEFT JOIN person_keys k USING (student_id) "
                     "WHERE a.person_no IS DISTINCT FROM k.person_no") == 0
    assert db.scalar("SELECT count(*) FROM sessions WHERE CAST(starts_at AS DATE) > ? "
                     "OR CAST(starts_at AS DATE) <= ?", [today, today - timedelta(days=14)]) == 0
    f = A.Filters(today - timedelta(days=13), today)
    k = A.kpis(db, f)
    assert k["attended"] <= k["expected"]
    assert 0.75 <= k["attendance_rate"] <= 0.97
    assert 0.01 <= k["late_rate"] <= 0.2
    assert k["unique_people"] >= 180 and k["unknown_faces"] > 0
    assert A.people_summary(db, f)["expected"].sum() == k["expected"]
    fri = A.arrivals_heatmap(db, f).groupby("weekday")["arrivals"].sum()
    assert set(fri.index) <= {0, 1, 2, 3, 4, 5}
    scores = A.recognition_scores(db, f)
    assert scores["score"].between(0.4, 1).all() and set(scores["method"]) <= {"face", "device"}
    # Ceremonies: realistic timing and a few no-shows.
    for cid in db.query("SELECT ceremony_id FROM ceremonies")["ceremony_id"]:
        assert A.call_to_stage(db, cid)["seconds"].between(10, 60).all()
        assert A.time_on_stage(db, cid)["seconds"].between(8, 20).all()
        tl = A.ceremony_timeline(db, cid)
        gaps = tl["called_at"].diff().dt.total_seconds().dropna()
        assert gaps.between(20, 40).all()
    # Running again replaces the synthetic data (same seed, same rows) and leaves other data alone.
    with db.write() as cur:
        cur.execute("INSERT INTO classes VALUES ('STAT101', 'Real class', 'x', 'y')")
    again = synth.generate(db, people=200, days=14, today=today, seed=3)
    assert again["attendance"] == counts["attendance"]
    assert db.scalar("SELECT count(*) FROM attendance") == counts["attendance"]
    assert db.scalar("SELECT count(*) FROM classes WHERE class_id = 'STAT101'") == 1


def test_plan_for_rows():
    people, days = synth.plan_for_rows(10_000_000)
    assert people == 20_000 and 300 <= days <= 400


def test_sessions_get_integer_keys_copied_onto_attendance(tmp_path):
    db = Database(tmp_path / "keys.duckdb")
    ms = int(datetime(2025, 3, 3, 9, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)

    def scheduled(sess: str, start_ms: int) -> Event:
        return Event.new("session.scheduled", {"session_id": sess, "class_id": "C1", "starts_at_ms": start_ms,
                                               "ends_at_ms": start_ms + 3_600_000})

    def recorded(sess: str, sid: str) -> Event:
        return Event.new("attendance.recorded", {"session_id": sess, "student_id": sid, "status": "present",
                                                 "method": "qr", "at_ms": ms})

    with db.write() as cur:
        for event in (scheduled("S1", ms), scheduled("S2", ms + 86_400_000), recorded("S1", "A"),
                      recorded("S3", "B"),  # its session is scheduled after the record arrives
                      scheduled("S3", ms), scheduled("S1", ms + 60_000)):  # S1 rescheduled: keeps its number
            apply(cur, event)
    rows = db.query("SELECT a.session_id, a.session_no, s.session_no AS own FROM attendance a "
                    "JOIN sessions s USING (session_id) ORDER BY 1").values.tolist()
    assert rows == [["S1", 1, 1], ["S3", 3, 3]]
    assert db.scalar("SELECT session_no FROM sessions WHERE session_id = 'S2'") == 2
    db.close()
