"""Issue #13: the audit trail words an event's fields, with times as local date-times."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from core import audit
from core.eventlog import Event

BANGKOK = ZoneInfo("Asia/Bangkok")


def test_details_are_words_with_local_times(app):
    starts = datetime(2026, 3, 2, 9, 0, tzinfo=BANGKOK)
    ms = int(starts.timestamp() * 1000)
    app.submit(Event.new("session.scheduled", {"session_id": "CPE401-2026-03-02", "class_id": "CPE401",
                                               "starts_at_ms": ms, "ends_at_ms": ms + 3 * 3_600_000,
                                               "late_after_min": 10, "room": None}, actor="op"))
    app.submit(Event.new("class.upserted", {"class_id": "C9", "name": "ห้องเรียน",
                                            "members": [f"s{n}" for n in range(40)], "note": "x" * 500}, actor="op"))
    shown = audit.search(app, start=date(2000, 1, 1), end=date(2100, 1, 1)).set_index("action")["detail"]
    assert shown["Scheduled a session"] == ("session id: CPE401-2026-03-02 · class id: CPE401 · "
                                          "starts at: 2026-03-02 09:00:00 · ends at: 2026-03-02 12:00:00 · "
                                          "late after min: 10")
    saved = shown[audit.describe("class.upserted")]
    assert saved.startswith("class id: C9 · name: ห้องเรียน · members: 40 items · note: xxx")
    assert len(saved) <= 300 and "=" not in saved


def test_other_details_are_shown_as_they_are():
    assert audit.detail_text("3 rows from r.csv (utf-8)", BANGKOK) == "3 rows from r.csv (utf-8)"
    assert audit.detail_text("status=late, at_ms=1", BANGKOK) == "status=late, at_ms=1"  # written before
    assert audit.detail_text(None, BANGKOK) == "" and audit.detail_text("{not json", BANGKOK) == "{not json"
    assert audit.detail_text('{"at_ms": 0, "ok": true, "gone": null}', ZoneInfo("UTC")) == \
        "at: 1970-01-01 00:00:00 · ok: yes"
