"""A realistic mixed stream of events, for the data-path benchmark (bench/scale.py) and its tests.

A school day and a ceremony interleaved, the way the log sees them: a roster import, classes and sessions,
face enrollments, check-ins from cameras (with repeats, and late ones after End attendance), staff
corrections, a running ceremony with calls, stage beams and RFID scans from devices, heartbeats. The same
seed gives the same events (ids included), so two read models folded from it can be compared table by table.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator

from core.eventlog import Event
from core.timeutil import from_ms

DAY_MS = 86_400_000


def mixed_events(n: int, *, seed: int = 1, people: int = 2_000, start_ms: int = 1_780_000_000_000) -> list[Event]:
    """About `n` events (at least a few hundred of set-up first)."""
    return list(iter_mixed_events(n, seed=seed, people=people, start_ms=start_ms))


def iter_mixed_events(n: int, *, seed: int = 1, people: int = 2_000,
                      start_ms: int = 1_780_000_000_000) -> Iterator[Event]:
    """The same events one at a time (a million do not need to be in memory at once)."""
    return _stream(n, seed, people, start_ms)


def _stream(n: int, seed: int, people: int, start_ms: int) -> Iterator[Event]:
    rng = random.Random(seed)
    clock = [start_ms]
    count = [0]

    def event(kind: str, payload: dict, *, actor: str | None = "staff", source: str = "app",
              id_: str | None = None, step_ms: int = 50) -> Event:
        clock[0] += rng.randint(1, step_ms)
        count[0] += 1
        return Event(id=id_ or f"w{seed}:{count[0]}", kind=kind, ts_ms=clock[0], payload=payload, actor=actor,
                     source=source)

    ids = [f"S{seed}{i:06d}" for i in range(people)]
    for chunk in range(0, people, 1000):  # a roster arrives as events of at most 1,000 rows
        rows = [{"student_id": sid, "name": f"นักศึกษา {sid}", "department": rng.choice("ABCD"),
                 "rfid_tag": f"{int(sid[-6:]) + 0xA000:08X}"} for sid in ids[chunk:chunk + 1000]]
        yield event("roster.imported", {"rows": rows, "columns": ["student_id", "name", "department", "rfid_tag"],
                                        "file_name": "roster.csv", "encoding": "utf-8"})
    classes = [f"C{seed}{k:02d}" for k in range(max(1, people // 40))]
    members = {c: ids[k * 40:(k + 1) * 40] for k, c in enumerate(classes)}
    for c in classes:
        yield event("class.upserted", {"class_id": c, "name": f"Class {c}", "members": members[c]})
    sessions = []
    for c in classes:
        session_id = f"{c}-{from_ms(start_ms):%Y-%m-%d}"  # the UTC day: the same ids on every machine
        sessions.append((session_id, c))
        yield event("session.scheduled", {"session_id": session_id, "class_id": c, "starts_at_ms": start_ms,
                                          "ends_at_ms": start_ms + DAY_MS, "late_after_min": 10})
        yield event("session.started", {"session_id": session_id, "late_after_min": 10})
    graduates = ids[: min(len(ids), 1_500)]
    ceremony_id = f"G{seed}"
    yield event("ceremony.created", {"ceremony_id": ceremony_id, "name": "Graduation", "on_date": "2026-12-02",
                                     "venue": "Hall", "absent_timeout_min": 5,
                                     "entries": [{"student_id": s, "order_no": k + 1}
                                                 for k, s in enumerate(graduates)]})
    yield event("ceremony.started", {"ceremony_id": ceremony_id})
    boot, seq = f"b{seed}", [0]

    def device(kind: str, payload: dict) -> Event:
        seq[0] += 1
        return event(kind, {"device_id": "stage-1", "boot_id": boot, "seq": seq[0], "received_ms": clock[0],
                            **payload}, actor="stage-1", source="device", id_=f"stage-1:{boot}:{seq[0]}", step_ms=5)

    ended: set[str] = set()
    line = 0  # graduates called so far
    while count[0] < n:
        roll = rng.random()
        if roll < 0.45:  # a check-in (a camera may report the same person twice)
            session_id, c = rng.choice(sessions)
            sid = rng.choice(members[c])
            crop = base64.b64encode(rng.randbytes(24)).decode() if rng.random() < 0.5 else None
            yield event("attendance.recorded", {
                "session_id": session_id, "student_id": sid, "status": rng.choice(("present", "present", "late")),
                "method": "face", "score": round(rng.uniform(0.5, 0.9), 3),
                "evidence": {"runner_up_gap": 0.2, "liveness": "off", "model": "SFace", "threshold": 0.45,
                             **({"crop_token": crop} if crop else {})}},
                actor=None, source="worker", id_=f"attendance:{session_id}:{sid}:{count[0]}")
        elif roll < 0.75:  # the ceremony: a call, then the graduate crosses both beams (or is scanned)
            if line < len(graduates) and rng.random() < 0.4:
                line += 1
                yield event("ceremony.called", {"ceremony_id": ceremony_id})
            else:
                yield device(rng.choice(("beam.front", "beam.back", "beam.back")), {})
                if rng.random() < 0.05:
                    yield device("rfid.scan", {"tag": f"{int(rng.choice(graduates)[-6:]) + 0xA000:08X}"})
        elif roll < 0.85:
            yield device("device.heartbeat", {"firmware": "1.2.0", "uptime_s": count[0], "rssi": -60,
                                              "queue_depth": 0, "free_heap": 100_000})
        elif roll < 0.99:  # a face enrollment
            sid = rng.choice(ids)
            yield event("face.enrolled", {"template_id": f"t{seed}:{count[0]}", "student_id": sid, "model": "SFace",
                                          "detector": "yunet", "quality": {"face_px": 120}, "source": "upload",
                                          "token": base64.b64encode(rng.randbytes(48)).decode()})
        elif roll < 0.995:  # staff: a correction, an edit (rare beside devices and cameras)
            session_id, c = rng.choice(sessions)
            yield event("attendance.corrected", {"session_id": session_id, "student_id": rng.choice(members[c]),
                                                 "status": rng.choice(("excused", "absent", "present")),
                                                 "reason": "note from staff"})
        elif roll < 0.998:
            sid = rng.choice(ids)
            yield event("person.upserted", {"person": {"student_id": sid, "phone": f"08{rng.randint(0, 99999999):08d}"},
                                            "reason": "phone changed"})
        else:  # End attendance for one session: later check-ins to it are not recorded
            session_id, _ = rng.choice(sessions)
            if session_id not in ended:
                ended.add(session_id)
                yield event("session.ended", {"session_id": session_id})
