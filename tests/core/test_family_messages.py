"""The families' Telegram channel: real HTTP on loopback to the fake Bot API, a real read model, a real ceremony."""

from __future__ import annotations

from datetime import date

from core import ceremonies, ceremony_tools
from core.alerts import FamilyMessages
from core.demo import load_demo
from core.eventlog import now_ms
from tests.core.test_alerts import Clock
from tests.core.test_ceremonies import device
from tests.telegram_fake import TOKEN

CID = "grad-2026"
FAMILIES = "@families_channel"


def family_rows(app) -> dict[str, dict]:
    rows = app.db.query("SELECT * FROM alerts WHERE starts_with(kind, 'family_') ORDER BY alert_id").to_dict("records")
    return {row["alert_id"]: row for row in rows}


def test_off_by_default_and_without_a_channel(configure):
    assert not FamilyMessages(configure()).enabled  # the staff bot is set, the families' channel is not on
    assert not FamilyMessages(configure(FAMILY_CHAT_ID=FAMILIES)).enabled  # a channel, but not switched on
    assert not FamilyMessages(configure(FAMILY_MESSAGES="true", FAMILY_CHAT_ID=" ")).enabled  # on, no channel
    assert FamilyMessages(configure(FAMILY_MESSAGES="true", FAMILY_CHAT_ID=FAMILIES)).enabled


def test_a_call_and_the_stage_reach_the_families_once_without_names_in_the_log(configure, telegram):
    app = configure(FAMILY_MESSAGES="true", FAMILY_CHAT_ID=FAMILIES)
    load_demo(app, today=date(2026, 11, 22))
    family = FamilyMessages(app)
    ceremonies.act(app, "op", CID, "ceremony.started")
    ceremonies.call_next(app, "op", CID)
    first = ceremonies.load(app, CID).current()
    name = ceremonies.board(app, CID).set_index("student_id").loc[first.student_id, "name"]
    assert family.tick() == 1 and family.tick() == 0  # once
    app.submit(device("beam.front", 1))
    assert family.tick() == 1 and family.tick() == 0
    sent = telegram.wait_for_messages(2)
    assert [m.chat_id for m in sent] == [FAMILIES, FAMILIES] and all(m.token == TOKEN for m in sent)
    assert sent[0].text.startswith(f"🎓 {name} — approaching the stage (#1")
    assert sent[1].text.startswith(f"🎓 {name} — on stage now (#1")
    assert {r["kind"]: r["status"] for r in family_rows(app).values()} == {"family_called": "sent",
                                                                            "family_on_stage": "sent"}
    # The record says which ceremony and which call, never who: erasure has nothing to find there.
    for stored in app.log.read_after(0, 10_000):
        if stored.event.kind == "alert.sent":
            text = str(stored.event.payload) + stored.event.id
            assert name not in text and first.student_id not in text
    assert FamilyMessages(app).tick() == 0  # a restarted app does not announce them again
    family.stop()


def test_a_rehearsal_and_old_calls_are_not_announced(configure, telegram):
    app = configure(FAMILY_MESSAGES="true", FAMILY_CHAT_ID=FAMILIES)
    load_demo(app, today=date(2026, 11, 22))
    rid = ceremony_tools.start_rehearsal(app, "op", CID)
    family = FamilyMessages(app)
    ceremonies.call_next(app, "op", rid)
    assert family.tick() == 0
    ceremony_tools.end_rehearsal(app, "op", rid)
    ceremonies.act(app, "op", CID, "ceremony.started")
    ceremonies.call_next(app, "op", CID)
    late = FamilyMessages(app, now=lambda: now_ms() + 10_000)  # started after the call: it is history
    assert late.tick() == 0
    assert family.tick() == 1  # the real one was called after this worker started


def test_over_the_rate_limit_messages_are_dropped_and_recorded(configure, telegram):
    app = configure(FAMILY_MESSAGES="true", FAMILY_CHAT_ID=FAMILIES, FAMILY_MAX_PER_MINUTE="2")
    load_demo(app, today=date(2026, 11, 22))
    clock = Clock()
    family = FamilyMessages(app, clock=clock)
    ceremonies.act(app, "op", CID, "ceremony.started")
    for _ in range(4):
        ceremonies.call_next(app, "op", CID)
    assert family.tick() == 2
    assert sorted(r["status"] for r in family_rows(app).values()) == ["rate_limited", "rate_limited", "sent",
                                                                      "sent"]
    clock.now += 61
    ceremonies.call_next(app, "op", CID)
    assert family.tick() == 1  # a minute later: room again, and the dropped ones are not sent late
    assert len(telegram.wait_for_messages(3)) == 3


def test_telegram_asking_to_wait_holds_the_sender(configure, telegram):
    app = configure(FAMILY_MESSAGES="true", FAMILY_CHAT_ID=FAMILIES)
    load_demo(app, today=date(2026, 11, 22))
    clock = Clock()
    family = FamilyMessages(app, clock=clock)
    telegram.rate_limit(30)
    ceremonies.act(app, "op", CID, "ceremony.started")
    ceremonies.call_next(app, "op", CID)
    assert family.tick() == 0
    telegram.reset()
    ceremonies.call_next(app, "op", CID)
    assert family.tick() == 0  # still held for 30 s
    assert [r["status"] for r in family_rows(app).values()] == ["rate_limited", "rate_limited"]
    assert TOKEN not in str(family_rows(app))  # the bot token never lands in a record
