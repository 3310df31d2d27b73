"""kill -9 of the real app (`streamlit run`), ten times, while a device posts through the real receiver and
check-ins are appended: every acknowledged event is folded exactly once, and a rebuild from the log gives the
same tables. Between two lives the test reads the cursor the app committed, read-only (DuckDB then replays its
write-ahead log in memory and leaves the files as the crash left them, for the next life to recover)."""

from __future__ import annotations

import random
import shutil
import time
from contextlib import ExitStack
from datetime import date
from itertools import pairwise
from pathlib import Path

import duckdb

from core import ceremonies
from core.config import Settings
from core.demo import load_demo
from core.services import Rollcall
from tests.core.test_ingestor import snapshot
from tests.load import Loader, StreamlitApp, checkin_steps, device_steps
from tests.receiver.conftest import Receiver

KILLS = 10


def committed_cursor(data: Path) -> int:
    """The ingestor's position as the app last committed it (only while no app holds the file)."""
    with duckdb.connect(str(data / "rollcall.duckdb"), read_only=True) as db:
        return db.execute("SELECT cursor FROM ingest_state WHERE id = 1").fetchone()[0]



def prepare(data) -> tuple[str, list[str]]:
    """Demo data, a running ceremony with ten graduates called (the beams move them along)."""
    app = Rollcall(Settings(data_dir=data))
    try:
        load_demo(app, today=date.today())
        ceremonies.act(app, "op", "grad-2026", "ceremony.started")
        for _ in range(10):
            ceremonies.call_next(app, "op", "grad-2026")
        class_id = app.db.scalar("SELECT class_id FROM classes ORDER BY class_id LIMIT 1")
        members = list(app.db.query("SELECT student_id FROM class_members WHERE class_id = ? ORDER BY student_id",
                                    [class_id])["student_id"])
        return class_id, members
    finally:
        app.close()


def test_kill_9_of_the_app_ten_times_loses_nothing_and_rebuilds_identically(tmp_path):
    data = tmp_path / "data"
    class_id, members = prepare(data)
    receiver = Receiver(data)
    secret = receiver.add_device("stage-1")
    app = StreamlitApp(data, tmp_path / "app.log")
    rng = random.Random(8)
    # About 25 events/s, below what the app folds (a beam moves the ceremony: ≈ 80–100 a second on 2 cores).
    beams = Loader(device_steps(receiver.url, "stage-1", secret), pause=0.3)
    checkins = Loader(checkin_steps(data / "events.sqlite", class_id, members, "load"), pause=0.12)
    kills, progress = 0, [committed_cursor(data)]
    with ExitStack() as cleanup:  # every process and thread is stopped, whatever fails
        for stop in (receiver.stop, app.stop, beams.stop, checkins.stop):
            cleanup.callback(stop)
        receiver.start()
        app.start()
        beams.start()
        checkins.start()
        for n in range(KILLS):
            # A random moment: early in a life (the catch-up, its largest transaction), or later in the flow.
            time.sleep(rng.uniform(0.2, 2.0) if n % 2 else rng.uniform(2.0, 4.0))
            assert beams.is_alive() and checkins.is_alive()  # the load is still going
            app.kill()
            kills += 1
            progress.append(committed_cursor(data))
            app.start()
        time.sleep(0.5)
        beams.stop()
        checkins.stop()
        head = receiver.log.head()
        for _ in range(10):  # the restarted app catches up on its own
            time.sleep(3)
            app.kill()
            if committed_cursor(data) == head:
                break
            app.start()
    print(f"committed after each kill: {progress}; log head {head}")
    assert kills == KILLS
    assert not beams.errors and not checkins.errors, (beams.errors[:3], checkins.errors[:3])
    assert len(beams.acknowledged) > 200 and len(checkins.acknowledged) > 150
    assert sum(b > a for a, b in pairwise(progress)) >= KILLS // 2, progress  # lives that committed something
    assert committed_cursor(data) == head, (progress, head)
    log = (tmp_path / "app.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]

    folded = Rollcall(Settings(data_dir=data))
    try:
        assert folded.ingestor.pump() == 0  # the app had folded everything itself
        assert folded.db.scalar("SELECT count(*) FROM ingest_errors") == 0
        device_ids = list(folded.db.query("SELECT event_id FROM device_events")["event_id"])
        assert sorted(device_ids) == sorted(beams.acknowledged)  # every acknowledged beam, once
        records = folded.db.query("SELECT session_id, student_id FROM attendance WHERE session_id LIKE 'load-%'")
        expected = {tuple(i.split(":")[1:]) for i in checkins.acknowledged if i.startswith("attendance:")}
        assert len(records) == len(expected) and set(map(tuple, records.values.tolist())) == expected
        survived = snapshot(folded)
    finally:
        folded.close()
    # A fresh rebuild: the same log folded into an empty folder by a new instance.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for name in ("events.sqlite", "events.sqlite-wal", "events.sqlite-shm"):
        if (data / name).exists():
            shutil.copy(data / name, fresh / name)
    rebuilt = Rollcall(Settings(data_dir=fresh))
    try:
        rebuilt.ingestor.pump()
        assert rebuilt.ingestor.cursor() == head
        assert snapshot(rebuilt) == survived
    finally:
        rebuilt.close()
