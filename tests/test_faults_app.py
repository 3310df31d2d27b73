"""kill -9 of the app process, ten times, while a device posts through the real receiver and check-ins are
appended: every acknowledged event is folded exactly once, and a rebuild from the log gives the same tables."""

from __future__ import annotations

import random
import time
from contextlib import ExitStack
from datetime import date
from itertools import pairwise

from core import ceremonies
from core.config import Settings
from core.demo import load_demo
from core.services import Rollcall
from tests.core.test_ingestor import snapshot
from tests.load import AppProcess, Loader, checkin_steps, device_steps
from tests.receiver.conftest import Receiver

KILLS = 10


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
    app = AppProcess(data, tmp_path / "app.log")
    rng = random.Random(8)
    # About 25 events/s, below what the app folds (a beam moves the ceremony: ≈ 80–100 a second on 2 cores), so
    # each life of the app catches up and commits before it is killed.
    beams = Loader(device_steps(receiver.url, "stage-1", secret), pause=0.3)
    checkins = Loader(checkin_steps(data / "events.sqlite", class_id, members, "load"), pause=0.12)
    kills, progress = 0, [0]
    with ExitStack() as cleanup:  # every process and thread is stopped, whatever fails
        for stop in (receiver.stop, app.stop, beams.stop, checkins.stop):
            cleanup.callback(stop)
        receiver.start()
        app.start()
        beams.start()
        checkins.start()
        for n in range(KILLS):
            if n % 2:  # during the catch-up after a restart (its first batch is the largest)
                time.sleep(rng.uniform(0.2, 2.5))
            else:  # once this life has committed something: in the steady flow, mid-batch or between
                start = max(app.cursor, progress[-1])
                deadline = time.monotonic() + 60
                while app.cursor <= start and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 1.0))
            assert beams.is_alive() and checkins.is_alive()  # the load is still going
            progress.append(app.cursor)
            app.kill()
            kills += 1
            app.start()
        time.sleep(0.5)
        beams.stop()
        checkins.stop()
        head = receiver.log.head()
        app.wait_for_cursor(head)  # the restarted app catches up on its own
        app.kill()
    assert kills == KILLS
    assert not beams.errors and not checkins.errors, (beams.errors[:3], checkins.errors[:3])
    assert len(beams.acknowledged) > 300 and len(checkins.acknowledged) > 150
    assert sum(b > a for a, b in pairwise(progress)) >= KILLS // 2, progress  # it folded between kills
    assert "Traceback" not in (tmp_path / "app.log").read_text()

    folded = Rollcall(Settings(data_dir=data))
    try:
        assert folded.ingestor.pump() == 0 and folded.ingestor.cursor() == head  # nothing was left for us
        assert folded.db.scalar("SELECT count(*) FROM ingest_errors") == 0
        device_ids = list(folded.db.query("SELECT event_id FROM device_events")["event_id"])
        assert sorted(device_ids) == sorted(beams.acknowledged)  # every acknowledged beam, once
        records = folded.db.query("SELECT session_id, student_id FROM attendance WHERE session_id LIKE 'load-%'")
        expected = {tuple(i.split(":")[1:]) for i in checkins.acknowledged if i.startswith("attendance:")}
        assert len(records) == len(expected) and set(map(tuple, records.values.tolist())) == expected
        before = snapshot(folded)
        assert folded.ingestor.rebuild() == head
        assert snapshot(folded) == before
    finally:
        folded.close()
