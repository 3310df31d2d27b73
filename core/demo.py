"""Demo data, so every page shows something real on a fresh install.

Events carry fixed ids ("demo:…"), so loading twice appends nothing the second time.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from core.eventlog import Event
from core.services import Rollcall
from core.timeutil import local_today, to_ms

FIRST = [("สมชาย", "Somchai"), ("สมหญิง", "Somying"), ("ณัฐพล", "Nattapon"), ("กิตติพัฒน์", "Kittipat"),
         ("ปิยะนุช", "Piyanuch"), ("ธนากร", "Thanakorn"), ("ศิริพร", "Siriporn"), ("วรรณา", "Wanna"),
         ("อนุชา", "Anucha"), ("พิมพ์ชนก", "Pimchanok"), ("ชยพล", "Chayapon"), ("กัญญารัตน์", "Kanyarat"),
         ("ธีรภัทร", "Theeraphat"), ("สุภาวดี", "Supawadee"), ("ปวีณา", "Paweena"), ("เอกชัย", "Ekkachai"),
         ("อรอุมา", "Onuma"), ("ภานุวัฒน์", "Panuwat"), ("ณัฐธิดา", "Natthida"), ("วีรยุทธ", "Weerayut"),
         ("ใหม่", "Mai"), ("แพรวา", "Praewa"), ("โชติกา", "Chotika"), ("ไตรภพ", "Traiphop")]
LAST = [("ใจดี", "Jaidee"), ("แสงทอง", "Saengthong"), ("ศรีสุข", "Srisuk"), ("วงศ์ใหญ่", "Wongyai"),
        ("บุญมา", "Boonma"), ("ทองคำ", "Thongkham"), ("เพชรรัตน์", "Petcharat"), ("สุขสวัสดิ์", "Suksawat"),
        ("รุ่งเรือง", "Rungruang"), ("มั่นคง", "Mankong"), ("ไชยวงศ์", "Chaiwong"), ("อินทร์แก้ว", "Inkaew")]
INTERNATIONAL = ["Emma Johnson", "Liam O'Brien", "Zoë Müller", "Nguyễn Văn An", "Hiroshi Tanaka", "Aarav Sharma"]
DEPARTMENTS = ["วิศวกรรมคอมพิวเตอร์", "บริหารธุรกิจ", "นิเทศศาสตร์", "วิทยาการข้อมูล"]
CLASSES = [
    ("CPE401", "Computer Vision", "วิศวกรรมคอมพิวเตอร์", "อ.ดร.วิชัย ศรีสุข", time(9, 0), time(12, 0)),
    ("BUS310", "Data Analytics for Business", "บริหารธุรกิจ", "Dr. Sarah Lee", time(13, 0), time(16, 0)),
]
N_PEOPLE = 60


def roster_rows(rng: random.Random) -> list[dict]:
    rows: list[dict[str, Any]] = []
    used = set()
    for i in range(N_PEOPLE):
        sid = f"6501{i + 1:03d}"
        dept = DEPARTMENTS[i % len(DEPARTMENTS)]
        if i % 10 == 9:
            name = name_en = INTERNATIONAL[(i // 10) % len(INTERNATIONAL)]
            guardian = f"Parent of {name.split()[0]}"
        else:
            while True:
                (f_th, f_en), (l_th, l_en) = rng.choice(FIRST), rng.choice(LAST)
                if (f_th, l_th) not in used:
                    used.add((f_th, l_th))
                    break
            name, name_en = f"{f_th} {l_th}", f"{f_en} {l_en}"
            guardian = f"{rng.choice(['นาย', 'นาง'])}{rng.choice(FIRST)[0]} {l_th}"
        rows.append({"student_id": sid, "name": name, "name_en": name_en, "guardian_name": guardian,
                     "department": dept, "phone": f"08{rng.randrange(10**8):08d}",
                     "email": f"s{sid}@student.example.ac.th", "ceremony_order": None})
    # Ceremony order: by department, then roster order.
    for order, row in enumerate(sorted(rows, key=lambda r: (DEPARTMENTS.index(r["department"]), r["student_id"])), 1):
        row["ceremony_order"] = order
    return rows


def demo_events(today: date, tz, seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    rows = roster_rows(rng)
    base_ms = to_ms(datetime.combine(today - timedelta(days=30), time(8, 0), tz))
    events = [Event(id="demo:roster", kind="roster.imported", ts_ms=base_ms, actor="demo", payload={
        "file_name": "demo-roster.csv", "encoding": "utf-8",
        "columns": ["student_id", "name", "name_en", "guardian_name", "department", "phone", "email",
                    "ceremony_order"],
        "rows": rows})]
    for n, (class_id, cname, dept, teacher, start, end) in enumerate(CLASSES):
        members = [r["student_id"] for r in rows if r["department"] == dept or rng.random() < 0.15]
        events.append(Event(id=f"demo:class:{class_id}", kind="class.upserted", ts_ms=base_ms + 1 + n,
                            actor="demo", payload={"class_id": class_id, "name": cname, "department": dept,
                                                   "teacher": teacher, "members": members}))
        events.append(Event(id=f"demo:schedule:{class_id}", kind="schedule.upserted", ts_ms=base_ms + 3 + n,
                            actor="demo", payload={"schedule_id": f"{class_id}-weekly", "class_id": class_id,
                                                   "weekday": today.weekday(), "start_time": start.isoformat(),
                                                   "end_time": end.isoformat(), "late_after_min": 10,
                                                   "room": f"Room {301 + n}"}))
        # Today's session and the three before it, with attendance for the past ones.
        for weeks_ago in (3, 2, 1, 0):
            day = today - timedelta(weeks=weeks_ago)
            starts = datetime.combine(day, start, tz)
            session_id = f"{class_id}-{day.isoformat()}"
            starts_ms = to_ms(starts)
            events.append(Event(id=f"demo:session:{session_id}", kind="session.scheduled", ts_ms=starts_ms - 3600_000,
                                actor="demo", payload={
                                    "session_id": session_id, "class_id": class_id, "starts_at_ms": starts_ms,
                                    "ends_at_ms": to_ms(datetime.combine(day, end, tz)),
                                    "late_after_min": 10}))
            if weeks_ago == 0:
                continue
            for sid in members:
                if rng.random() < 0.12:
                    continue  # absent: no record
                minutes = rng.gauss(3, 6)
                status = "late" if minutes > 10 else "present"
                at_ms = starts_ms + int(minutes * 60_000)
                events.append(Event(id=f"demo:att:{session_id}:{sid}", kind="attendance.recorded", ts_ms=at_ms,
                                    actor="demo", payload={"session_id": session_id, "student_id": sid,
                                                           "status": status, "method": "face", "at_ms": at_ms,
                                                           "score": round(rng.uniform(0.55, 0.85), 3)}))
    ordered = sorted(rows, key=lambda r: r["ceremony_order"])
    events.append(Event(id="demo:ceremony", kind="ceremony.created", ts_ms=base_ms + 10, actor="demo", payload={
        "ceremony_id": "grad-2026", "name": "พิธีพระราชทานปริญญาบัตร 2569 (Commencement 2026)",
        "on_date": today.isoformat(), "venue": "หอประชุมใหญ่ (Main Auditorium)", "absent_timeout_min": 5,
        "entries": [{"student_id": r["student_id"], "order_no": r["ceremony_order"]} for r in ordered]}))
    return events


def load_demo(app: Rollcall, today: date | None = None) -> int:
    """Append the demo events; returns how many were new."""
    tz = app.settings.tz
    today = today or local_today(tz)
    return app.submit(*demo_events(today, tz)).accepted
