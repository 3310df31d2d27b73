"""How long retention and erasure take on a log of a given size (prints figures; not a pass/fail test).

    .venv/bin/python -m bench.privacy [--sessions 100]

The log: the demo roster (60 people), a class of all of them and `--sessions` past sessions with a check-in of
every member (each with an encrypted face crop), a camera frame a session; then a purge with nothing expired,
a purge where the oldest half expired, and the erasure of one person (log rewrite, the read model changed row by
row and copied afresh).
"""

from __future__ import annotations

import argparse
import base64
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from core import privacy
from core.config import Settings
from core.demo import load_demo
from core.eventlog import Event
from core.runtime import open_app
from core.services import Rollcall

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def build(app: Rollcall, sessions: int) -> None:
    load_demo(app, today=NOW.date())
    members = list(app.db.query("SELECT student_id FROM people")["student_id"])
    app.submit(Event.new("class.upserted", {"class_id": "BIG", "name": "Everyone", "members": members}, actor="b"))
    crop = {sid: app.keys.encrypt(sid, b"\xff\xd8" + b"x" * 3000) for sid in members}  # a 3 kB face crop
    jpeg = base64.b64encode(b"\xff\xd8" + b"y" * 40_000).decode()  # a 40 kB frame
    for n in range(sessions):
        start = int((NOW - timedelta(days=sessions - n)).timestamp() * 1000)
        events = [Event(id=f"b:s:{n}", kind="session.scheduled", ts_ms=start - 1000, actor="b", payload={
            "session_id": f"BIG-{n}", "class_id": "BIG", "starts_at_ms": start, "ends_at_ms": start + 3_600_000}),
            Event(id=f"cam:b1:{n}", kind="frame.captured", ts_ms=start, actor="cam", source="device",
                  payload={"device_id": "cam", "boot_id": "b1", "seq": n, "jpeg_b64": jpeg})]
        events += [Event(id=f"attendance:BIG-{n}:{sid}", kind="attendance.recorded", ts_ms=start + 60_000,
                         actor="frames", source="worker",
                         payload={"session_id": f"BIG-{n}", "student_id": sid, "status": "present", "method": "face",
                                  "at_ms": start + 60_000, "score": 0.7, "evidence": {"crop_token": crop[sid]}})
                   for sid in members]
        app.log.append(events)
    app.ingestor.pump()
    with app.db.write() as cur:
        cur.execute("INSERT OR REPLACE INTO processor_state VALUES ('frames', ?)", [app.log.head()])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=100)
    sessions = parser.parse_args().sessions
    half = sessions // 2
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", retention_frame_days=half, retention_crop_days=half,
                            retention_attendance_days=0, retention_template_idle_days=0)
        app = open_app(settings, workers=False)
        build(app, sessions)
        events, mb = app.log.head(), settings.events_path.stat().st_size / 1e6
        start = time.perf_counter()
        nothing = privacy.purge_expired(app, NOW - timedelta(days=sessions + 1))
        idle = time.perf_counter() - start
        start = time.perf_counter()
        purged = privacy.purge_expired(app, NOW)
        purge = time.perf_counter() - start
        start = time.perf_counter()
        report = privacy.erase_person(app, "6501001", "bench", "benchmark")
        erase = time.perf_counter() - start
        app.close()
    assert nothing.total == 0
    print(f"log: {events:,} events, {mb:.0f} MB; {date.today()}")
    print(f"purge, nothing expired           {idle:8.2f} s")
    print(f"purge, half expired              {purge:8.2f} s   ({purged.counts['frames']} frames, "
          f"{purged.counts['crops']:,} crops)")
    print(f"erase one person                 {erase:8.2f} s   ({report.events_changed} events rewritten, "
          "the read model changed row by row)")


if __name__ == "__main__":
    main()
