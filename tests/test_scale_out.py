"""Several boxes for real: two app instances (each its own DuckDB) and two receivers on one Firestore project
(the real emulator). Devices post through both receivers and staff act on both apps at the same time; once the
writes stop, both read models hold identical tables, and a rebuild of either gives them again."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import date

import pytest

from core import ceremonies, devices, sessions
from core.config import Settings
from core.demo import load_demo
from core.eventlog import Event
from core.schema import READ_MODEL_TABLES
from core.services import Rollcall
from receiver.simulate import SimulatedDevice
from tests.receiver.conftest import Receiver

CEREMONY = "grad-2026"  # the demo ceremony


def tables(app: Rollcall) -> dict[str, list]:
    out = {}
    for table in READ_MODEL_TABLES:
        df = app.db.query(f"SELECT * FROM {table}")
        out[table] = sorted(map(repr, df.astype(object).where(df.notna(), None).itertuples(index=False)))
    return out


def caught_up(*apps: Rollcall, tries: int = 600) -> None:
    """Wait for a state (every instance has folded the whole log), not for a duration."""
    for _ in range(tries):
        heads = [app.log.head() for app in apps]
        if all(app.ingestor.cursor() == head for app, head in zip(apps, heads, strict=True)) and len(set(heads)) == 1:
            return
        time.sleep(0.1)
    raise AssertionError(f"not caught up: cursors {[a.ingestor.cursor() for a in apps]}, heads {heads}")


@pytest.fixture
def two_boxes(firestore_emulator, tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    # Every box shares the master key: device secrets are sealed with it in Firestore.
    env = {**firestore_emulator.env(), "ROLLCALL_FIRESTORE_PREFIX": f"t{uuid.uuid4().hex[:8]}",
           "ROLLCALL_MASTER_KEY": Fernet.generate_key().decode()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    boxes = [Rollcall(Settings(data_dir=tmp_path / name)) for name in ("box-a", "box-b")]
    receivers = [Receiver(tmp_path / f"receiver-{n}", env_extra=env) for n in (1, 2)]
    yield boxes, receivers
    for receiver in receivers:
        receiver.stop()
    for box in boxes:
        box.close()


def test_two_apps_and_two_receivers_on_one_firestore_converge(two_boxes):
    (a, b), receivers = two_boxes
    load_demo(a, today=date(2026, 11, 22))  # set up through box A; box B learns it from the log
    secrets = {name: devices.add_device(a.log, name, "test") for name in ("stage-1", "stage-2")}
    for receiver in receivers:
        receiver.start()
    ceremonies.act(a, "admin", CEREMONY, "ceremony.started")
    for box in (a, b):
        box.ingestor.start(box.settings.ingest_poll_seconds)
    caught_up(a, b)
    session_id = a.db.scalar("SELECT min(session_id) FROM sessions")
    members = list(b.db.query("SELECT m.student_id FROM class_members m JOIN sessions s USING (class_id) "
                              "WHERE s.session_id = ? ORDER BY 1", [session_id])["student_id"])
    errors: list[BaseException] = []

    def run(work) -> threading.Thread:
        def guarded() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)
        thread = threading.Thread(target=guarded)
        thread.start()
        return thread

    def device(receiver: Receiver, name: str) -> None:
        sim = SimulatedDevice(receiver.url, name, secrets[name])
        for n in range(15):
            kind = "beam.front" if n % 2 == 0 else "beam.back"
            assert sim.send([sim.event(kind)]).status_code == 200
        assert sim.heartbeat().status_code == 200

    def calls_on(box: Rollcall) -> None:
        for _ in range(8):
            ceremonies.call_next(box, "op", CEREMONY)

    def corrections_on(box: Rollcall) -> None:
        for n, student in enumerate(members[:6]):
            sessions.correct_record(box, session_id, student, ("excused", "present", "absent")[n % 3],
                                    f"note {n}", "op")

    threads = [run(lambda: device(receivers[0], "stage-1")), run(lambda: device(receivers[1], "stage-2")),
               run(lambda: calls_on(a)), run(lambda: calls_on(b)), run(lambda: corrections_on(b)),
               run(lambda: b.submit(Event.new("class.upserted", {"class_id": "X1", "name": "Extra"}, actor="op")))]
    for thread in threads:
        thread.join()
    assert errors == []
    caught_up(a, b)

    seen_a, seen_b = tables(a), tables(b)
    assert len(seen_a["device_events"]) == 30 and len(seen_a["classes"]) > 1
    called = a.db.scalar("SELECT count(*) FROM ceremony_entries WHERE ceremony_id = ? AND status <> 'pending'",
                         [CEREMONY])
    assert called >= 16  # 8 calls from each box
    for table in READ_MODEL_TABLES:
        assert seen_a[table] == seen_b[table], f"{table} differs between the two instances"
    b.ingestor.rebuild()
    assert tables(b) == seen_b
