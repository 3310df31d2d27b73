"""Ceremonies through the event log and the read model: staff actions, device beams, RFID, the timer."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from core import ceremonies, people
from core.ceremony import CeremonyError
from core.demo import load_demo
from core.eventlog import Event, now_ms
from tests.core.test_ingestor import snapshot


@pytest.fixture
def running(app):
    load_demo(app, today=date(2026, 11, 22))
    cid = ceremonies.create(app, "op", name="พิธีทดสอบ", on_date=date(2026, 11, 22), venue="Hall",
                            absent_timeout_min=1, order="department", department="นิเทศศาสตร์")
    with pytest.raises(CeremonyError, match="Start the ceremony first"):
        ceremonies.call_next(app, "op", cid)
    ceremonies.act(app, "op", cid, "ceremony.started")
    return app, cid


def device(kind: str, seq: int, **payload) -> Event:
    return Event(id=f"stage-1:b1:{seq}", kind=kind, ts_ms=now_ms(), actor="stage-1", source="device",
                 payload={"device_id": "stage-1", "boot_id": "b1", "seq": seq, "received_ms": now_ms(), **payload})


def test_create_orders_the_roster(running):
    app, cid = running
    board = ceremonies.board(app, cid)
    assert len(board) == 15 and set(board["department"]) == {"นิเทศศาสตร์"}
    assert list(board["order_no"]) == list(range(1, 16))
    names = list(board["name"])
    assert names == list(app.db.query("SELECT name FROM people WHERE department = 'นิเทศศาสตร์' "
                                      "ORDER BY name COLLATE th")["name"])


def test_call_beams_and_audit(running):
    app, cid = running
    ceremonies.call_next(app, "op", cid)
    first = ceremonies.load(app, cid).current()
    assert first.status == "waiting" and first.order_no == 1
    app.submit(device("beam.front", 1))
    assert ceremonies.load(app, cid).entries[first.student_id].status == "on_stage"
    app.submit(device("beam.back", 2), device("beam.back", 2))  # a retried beam changes nothing more
    state = ceremonies.load(app, cid)
    assert state.entries[first.student_id].status == "received"
    app.submit(device("beam.back", 3))
    assert list(ceremonies.flags(app, cid)["kind"]) == ["beam_unmatched"]
    assert app.db.scalar("SELECT count(*) FROM audit WHERE action = 'ceremony.called' AND actor = 'op'") == 1


def test_rfid_names_the_graduate(running):
    app, cid = running
    sid = ceremonies.board(app, cid)["student_id"].iloc[4]
    people.update(app, "admin", sid, {"rfid_tag": "04:a1:b2:c3"})
    app.submit(device("rfid.scan", 1, tag="04A1B2C3"))
    assert ceremonies.load(app, cid).entries[sid].status == "on_stage"
    app.submit(device("rfid.scan", 2, tag="FFFF"))
    assert "belongs to nobody" in ceremonies.flags(app, cid)["detail"].iloc[0]


def test_the_timer_marks_no_shows_absent_once(running):
    app, cid = running
    ceremonies.call_next(app, "op", cid)
    waiting = ceremonies.load(app, cid).current()
    assert ceremonies.timeout_events(app, now_ms()) == []
    due = ceremonies.timeout_events(app, now_ms() + 61_000)
    assert [e.payload["student_id"] for e in due] == [waiting.student_id]
    app.submit(*due)
    app.submit(*ceremonies.timeout_events(app, now_ms() + 61_000))  # a second instance: same ids, no change
    assert ceremonies.load(app, cid).entries[waiting.student_id].status == "absent"
    ceremonies.act(app, "op", cid, "ceremony.requeued", student_id=waiting.student_id)
    ceremonies.call_next(app, "op", cid)
    assert ceremonies.load(app, cid).entries[waiting.student_id].status == "waiting"


def test_overrides_need_a_reason_and_rebuild_is_exact(running):
    app, cid = running
    sid = ceremonies.board(app, cid)["student_id"].iloc[2]
    with pytest.raises(CeremonyError, match="reason"):
        ceremonies.act(app, "op", cid, "ceremony.status_set", student_id=sid, status="received", reason=" ")
    ceremonies.act(app, "op", cid, "ceremony.status_set", student_id=sid, status="received", reason="VIP first")
    ceremonies.call_next(app, "op", cid)
    app.submit(device("beam.front", 1), device("beam.back", 2), device("beam.front", 3))
    before = snapshot(app)
    app.ingestor.rebuild()
    assert snapshot(app) == before
    assert app.db.scalar("SELECT reason FROM audit WHERE action = 'ceremony.status_set'") == "VIP first"


def test_view_links_are_signed(running):
    app, cid = running
    token = ceremonies.view_token(app, cid)
    assert ceremonies.check_view_token(app, cid, token)
    changed = token[:-1] + ("1" if token[-1] == "0" else "0")  # one changed digit
    assert not ceremonies.check_view_token(app, cid, changed)
    assert not ceremonies.check_view_token(app, "other", token)
    for garbled in ("é", "%C3%A9", "", "0.2026.x", token + "0", "0.20269999." + token[-24:]):
        assert not ceremonies.check_view_token(app, cid, garbled)
    # A link stops working after its last day, and when the links are revoked.
    issued = datetime.now(app.settings.tz).date()
    old = ceremonies.view_token(app, cid, today=issued)
    last = issued + timedelta(days=app.settings.view_link_days)
    assert ceremonies.check_view_token(app, cid, old, today=last)
    assert not ceremonies.check_view_token(app, cid, old, today=last + timedelta(days=1))
    ceremonies.revoke_links(app, "op", cid, "a link was posted online")
    assert not ceremonies.check_view_token(app, cid, old)
    assert ceremonies.check_view_token(app, cid, ceremonies.view_token(app, cid))


def test_cards_pdf_for_a_ceremony(running, tmp_path):
    import subprocess

    from core.qr import read_card

    app, cid = running
    pdf = ceremonies.cards(app, cid)
    path = tmp_path / "cards.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert text.count("page ") == 2 and "page 2 of 2" in text  # 15 cards, 8 a page
    first = ceremonies.board(app, cid).iloc[0]
    assert first["student_id"] in text
    assert read_card(app.settings, ceremonies.qr_text(app, cid, first["student_id"])) == (
        cid, first["student_id"])


def _photo_with_card(photos, qr_text: str) -> bytes:
    import cv2
    import numpy as np

    from core.qr import qr_png

    person = cv2.imread(str(photos / "obama.jpg"))
    card = cv2.imdecode(np.frombuffer(qr_png(qr_text), np.uint8), cv2.IMREAD_COLOR)
    card = cv2.resize(card, (260, 260), interpolation=cv2.INTER_NEAREST)
    person[-280:-20, 20:280] = card  # held at chest height, bottom left
    return cv2.imencode(".jpg", person, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def test_lineup_check_reads_the_card_and_the_face(running, photos):
    from core.qr import qr_payload

    app, cid = running
    ids = list(ceremonies.board(app, cid)["student_id"])
    holder, other = ids[0], ids[1]
    app.faces.record_consent(holder, "signed form", "test")
    assert app.faces.enroll(holder, [("obama3.jpg", (photos / "obama3.jpg").read_bytes())], "test")[0].accepted

    ok = ceremonies.check_lineup(app, "op", cid, _photo_with_card(photos, ceremonies.qr_text(app, cid, holder)),
                                 require_face=True)
    assert (ok.student_id, ok.face_match, ok.ok) == (holder, "matched", True)
    wrong = ceremonies.check_lineup(app, "op", cid, _photo_with_card(photos, ceremonies.qr_text(app, cid, other)),
                                    require_face=True)
    assert (wrong.student_id, wrong.face_match, wrong.ok) == (other, "mismatch", False)
    unchecked = ceremonies.check_lineup(app, "op", cid, _photo_with_card(photos, ceremonies.qr_text(app, cid, other)),
                                        require_face=False)
    assert unchecked.ok and unchecked.face_match == "not checked"
    forged = qr_payload(b"not-our-secret", cid, holder)
    with pytest.raises(CeremonyError, match="does not check out"):
        ceremonies.check_lineup(app, "op", cid, _photo_with_card(photos, forged), require_face=False)
    with pytest.raises(CeremonyError, match="No card QR code"):
        ceremonies.check_lineup(app, "op", cid, (photos / "obama.jpg").read_bytes(), require_face=False)
    assert app.db.scalar("SELECT count(*) FROM lineup_checks WHERE ceremony_id = ?", [cid]) == 3


def test_a_beam_dated_far_from_its_arrival_moves_nobody_and_is_flagged(running):
    """A door camera or a replayed buffer posting stage beams dated hours away must not mark graduates."""
    app, cid = running
    ceremonies.call_next(app, "op", cid)
    waiting = ceremonies.load(app, cid).current()
    stale = device("beam.front", 1)
    stale = Event(id=stale.id, kind=stale.kind, ts_ms=stale.ts_ms - 23 * 3600_000, actor=stale.actor,
                  source=stale.source, payload=stale.payload)
    app.submit(stale)
    assert ceremonies.load(app, cid).entries[waiting.student_id].status == "waiting"
    assert "dated -82800 s from its arrival" in ceremonies.flags(app, cid)["detail"].iloc[0]
    app.submit(device("beam.front", 2))
    assert ceremonies.load(app, cid).entries[waiting.student_id].status == "on_stage"


def test_a_double_click_on_call_next_calls_one_graduate(running):
    """Both clicks carry who the console showed as next: the second finds someone else next and is refused."""
    app, cid = running
    shown = ceremonies.load(app, cid).next_up().student_id
    ceremonies.call_next(app, "op", cid, expected=shown)
    with pytest.raises(CeremonyError, match="just called"):
        ceremonies.call_next(app, "op", cid, expected=shown)
    c = ceremonies.load(app, cid)
    assert [e.student_id for e in c.line("waiting")] == [shown] and c.calls == 1
    ceremonies.call_next(app, "op", cid, expected=c.next_up().student_id)  # the next click, from a fresh page
    assert ceremonies.load(app, cid).calls == 2
