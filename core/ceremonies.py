"""Ceremonies as staff run them: setup from the roster, the operator's actions, the live views,
the absent timer, and the read-only links for big screens. The rules are in core/ceremony.py."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from core import ceremony, qr
from core.ceremony_rows import read_ceremony
from core.config import Settings
from core.eventlog import Event, now_ms
from core.keys import load_master_key
from core.names import sort_sql
from core.qr import CHECKIN_CARD  # the pages name a person's own card through here
from core.services import Rollcall
from core.timeutil import local_today
from core.workers import Poller

ORDERS = {"roster": "Roster order, then department, then name", "department": "Department, then name",
          "name": "Name (Thai dictionary order)"}
_ORDER_SQL = {"roster": f"ceremony_order NULLS LAST, department COLLATE th NULLS LAST, {sort_sql('name')}",
              "department": f"department COLLATE th NULLS LAST, {sort_sql('name')}", "name": sort_sql("name")}


def create(app: Rollcall, actor: str, *, name: str, on_date: date, venue: str = "", absent_timeout_min: float = 5,
           order: str = "roster", department: str | None = None) -> str:
    """A ceremony with every person on the roster (or one department), in the chosen order."""
    if not name.strip():
        raise ceremony.CeremonyError("Give the ceremony a name.")
    if order not in _ORDER_SQL:
        raise ceremony.CeremonyError(f"Unknown order {order!r}.")
    if absent_timeout_min <= 0:
        raise ceremony.CeremonyError("The absent timeout must be more than 0 minutes.")
    where, params = ("WHERE department = ?", [department]) if department else ("", [])
    people = app.db.query(f"SELECT student_id FROM people {where} ORDER BY {_ORDER_SQL[order]}, student_id", params)
    if people.empty:
        raise ceremony.CeremonyError("Nobody on the roster to seat: import the roster first.")
    ceremony_id = re.sub(r"[^a-z0-9]+", "-", f"{on_date.isoformat()}-{uuid.uuid4().hex[:6]}")
    app.submit(Event.new("ceremony.created", {
        "ceremony_id": ceremony_id, "name": name.strip(), "on_date": on_date.isoformat(), "venue": venue.strip(),
        "absent_timeout_min": absent_timeout_min, "order": order,
        "entries": [{"student_id": sid, "order_no": n} for n, sid in enumerate(people["student_id"], 1)]},
        actor=actor))
    return ceremony_id


def listing(app: Rollcall, *, rehearsals: bool = True) -> pd.DataFrame:
    """Ceremonies, the running one first. Statistics ask without rehearsals (core/ceremony_tools.py)."""
    return app.db.query("SELECT ceremony_id, name, on_date, venue, status FROM ceremonies "
                        "WHERE ? OR NOT starts_with(ceremony_id, ?) "
                        "ORDER BY (status = 'running') DESC, on_date DESC, created_at DESC",
                        [rehearsals, ceremony.REHEARSAL_PREFIX])


def load(app: Rollcall, ceremony_id: str) -> ceremony.Ceremony:
    """The ceremony's state machine as the read model has it (core.ceremony_rows, the fold's reader too)."""
    with app.db.reading() as cur:
        stored = read_ceremony(cur, ceremony_id)
    if stored is None:
        raise ceremony.CeremonyError(f"No ceremony {ceremony_id!r}.")
    return stored[0]


def info(app: Rollcall, ceremony_id: str) -> dict:
    df = app.db.query("SELECT * FROM ceremonies WHERE ceremony_id = ?", [ceremony_id])
    if df.empty:
        raise ceremony.CeremonyError(f"No ceremony {ceremony_id!r}.")
    return df.iloc[0].to_dict()


def board(app: Rollcall, ceremony_id: str) -> pd.DataFrame:
    """Every graduate with name and status, in calling order (for the board, console and announcer). Every text
    column is a string: a graduate with no name (erased: their id is then a pseudonym, `erased-…`; or no longer on
    the roster) is shown by their id, other missing texts are empty."""
    return app.db.query(
        """
        SELECT e.order_no, e.student_id, coalesce(nullif(trim(p.name), ''), e.student_id) AS name,
               coalesce(p.name_en, '') AS name_en, coalesce(p.department, '') AS department,
               coalesce(p.pronunciation, '') AS pronunciation, e.status, e.call_no,
               e.queue_pos,
               e.called_at, e.on_stage_at, e.received_at
        FROM ceremony_entries e LEFT JOIN people p USING (student_id)
        WHERE e.ceremony_id = ? ORDER BY e.queue_pos, e.order_no
        """,
        [ceremony_id],
    )


def flags(app: Rollcall, ceremony_id: str, limit: int = 20) -> pd.DataFrame:
    return app.db.query("SELECT at_time, kind, detail FROM ceremony_flags WHERE ceremony_id = ? "
                        "ORDER BY at_time DESC LIMIT ?", [ceremony_id, limit])


# --- staff actions: each is one event; the state machine decides what it changes ---------------

def act(app: Rollcall, actor: str, ceremony_id: str, kind: str, **payload) -> None:
    current = load(app, ceremony_id)
    if kind not in ("ceremony.started", "ceremony.settings") and current.status != "running":
        raise ceremony.CeremonyError("Start the ceremony first." if current.status == "planned"
                                     else "This ceremony has ended.")
    if kind == "ceremony.status_set" and not (payload.get("reason") or "").strip():
        raise ceremony.CeremonyError("Give a reason for changing a status by hand.")
    app.submit(Event.new(kind, {"ceremony_id": ceremony_id, **payload}, actor=actor))


def call_next(app: Rollcall, actor: str, ceremony_id: str, expected: str | None = None) -> None:
    """Call the next graduate. `expected` is who the console showed as next when it was drawn: a double click (or a
    second console) finds someone else next by then and is refused, so nobody is called twice by accident."""
    following = load(app, ceremony_id).next_up()
    if following is None:
        raise ceremony.CeremonyError("Nobody is left to call.")
    if expected is not None and following.student_id != expected:
        raise ceremony.CeremonyError(f"{expected} was just called (a second click?): the next one is "
                                     f"{following.student_id}. Press Call next again to call them.")
    act(app, actor, ceremony_id, "ceremony.called")  # the state machine calls whoever is next in the log's order


def undo_last_call(app: Rollcall, actor: str, ceremony_id: str) -> None:
    waiting = load(app, ceremony_id).line("waiting")
    if not waiting:
        raise ceremony.CeremonyError("Nobody is waiting: there is no call to undo.")
    last = max(waiting, key=lambda e: e.call_no or 0)
    act(app, actor, ceremony_id, "ceremony.call_undone", student_id=last.student_id)


# --- the absent timer --------------------------------------------------------------------------

def timeout_events(app: Rollcall, at_ms: int | None = None) -> list[Event]:
    """Absent events due now. Their ids name the call they end, so two app instances emit one."""
    at_ms = at_ms or now_ms()
    events = []
    for ceremony_id in app.db.query("SELECT ceremony_id FROM ceremonies WHERE status = 'running'")["ceremony_id"]:
        for entry in ceremony.due_timeouts(load(app, ceremony_id), at_ms):
            events.append(Event(id=f"absent:{ceremony_id}:{entry.student_id}:{entry.called_at_ms}",
                                kind="ceremony.absent_timeout", ts_ms=at_ms, actor="timer", source="worker",
                                payload={"ceremony_id": ceremony_id, "student_id": entry.student_id,
                                         "called_at_ms": entry.called_at_ms}))
    return events


class CeremonyClock(Poller):
    """Runs the absent timer in the app process."""

    name = "rollcall-ceremony-clock"

    def __init__(self, app: Rollcall):
        super().__init__()
        self.app = app

    def tick(self) -> int:
        events = timeout_events(self.app)
        if events:
            self.app.submit(*events)
        return len(events)


# --- read-only links for the big screens --------------------------------------------------------

def view_token(app: Rollcall | Settings, ceremony_id: str, *, generation: int | None = None,
               today: date | None = None) -> str:
    """The secret part of a board / announcer link: whoever has the link may watch, nobody may act. It names
    the links' generation (Revoke links makes every earlier one invalid) and its last valid local day."""
    settings = app if isinstance(app, Settings) else app.settings
    if generation is None:
        generation = links_generation(app, ceremony_id) if isinstance(app, Rollcall) else 0
    today = today or local_today(settings.tz)
    expires = today + timedelta(days=settings.view_link_days)
    return f"{generation}.{expires:%Y%m%d}.{_link_mac(settings, ceremony_id, generation, expires)}"


def _link_mac(settings: Settings, ceremony_id: str, generation: int, expires: date) -> str:
    key = load_master_key(settings.master_key, settings.data_path)
    return hmac.new(key, f"view:{ceremony_id}:{generation}:{expires:%Y%m%d}".encode(), hashlib.sha256).hexdigest()[:24]


def links_generation(app: Rollcall, ceremony_id: str) -> int:
    return int(app.db.scalar("SELECT links_generation FROM ceremonies WHERE ceremony_id = ?", [ceremony_id]) or 0)


def check_view_token(app: Rollcall, ceremony_id: str, token: str, *, today: date | None = None) -> bool:
    """Whether a screen link is genuine, of the current generation and not past its last day. Anything else —
    an old link, a revoked one, a forged or garbled one (`%C3%A9`) — is simply not valid."""
    match = re.fullmatch(r"(\d{1,6})\.(\d{8})\.([0-9a-f]{24})", token or "")
    if not (ceremony_id and match):
        return False
    generation, mac = int(match[1]), match[3]
    try:
        expires = datetime.strptime(match[2], "%Y%m%d").date()
    except ValueError:
        return False
    expected = _link_mac(app.settings, ceremony_id, generation, expires)
    today = today or local_today(app.settings.tz)
    return (hmac.compare_digest(expected.encode(), mac.encode()) and today <= expires
            and generation == links_generation(app, ceremony_id))


def revoke_links(app: Rollcall, actor: str, ceremony_id: str, reason: str = "") -> None:
    """Every board and announcer link given out so far stops working; new ones are issued."""
    load(app, ceremony_id)
    app.submit(Event.new("ceremony.links_revoked", {"ceremony_id": ceremony_id, "reason": reason.strip() or None},
                         actor=actor))


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]
    done: int
    total: int
    pace: ceremony.Pace


def progress(c: ceremony.Ceremony, at_ms: int | None = None) -> Progress:
    counts = c.counts()
    done = counts["received"] + counts["absent"] + counts["skipped"]
    return Progress(counts, done, len(c.entries), ceremony.pace(c, at_ms or now_ms()))


# --- QR codes and cards ---------------------------------------------------------------------

def qr_text(app: Rollcall, ceremony_id: str, student_id: str) -> str:
    """The text of a genuine card (core.qr.card_text)."""
    return qr.card_text(app.settings, ceremony_id, student_id)


def cards(app: Rollcall, ceremony_id: str) -> bytes:
    """The printable PDF of every graduate's card, in calling order."""
    from core.reports import Card, cards_pdf

    secret = qr.card_secret(app.settings)
    made = [Card(order_no=int(r.order_no), student_id=r.student_id, name=r.name or r.student_id, name_en=r.name_en,
                 department=r.department, qr_text=qr.qr_payload(secret, ceremony_id, r.student_id))
            for r in board(app, ceremony_id).sort_values("order_no").itertuples(index=False)]
    return cards_pdf(info(app, ceremony_id)["name"], made)


def checkin_card_pdf(app: Rollcall, person: dict) -> bytes:
    """One person's printable QR card (from the People page), for check-in without a face."""
    from core.reports import Card, cards_pdf

    card = Card(order_no=None, student_id=person["student_id"], name=person.get("name") or person["student_id"],
                name_en=person.get("name_en"), department=person.get("department"),
                qr_text=qr_text(app, CHECKIN_CARD, person["student_id"]))
    return cards_pdf("Rollcall check-in card", [card])


# --- the line-up check: the card's QR, and optionally the holder's face -----------------------

@dataclass(frozen=True)
class LineupResult:
    student_id: str
    name: str
    face_match: str  # matched | mismatch | no face | not checked
    score: float | None
    ok: bool


def check_lineup(app: Rollcall, actor: str, ceremony_id: str, photo: bytes, *, require_face: bool) -> LineupResult:
    """A photo of a graduate holding their card: the QR names them; with `require_face`, so must the face."""
    from core.faces.images import decode_image

    image = decode_image(photo, "camera", max_bytes=app.settings.max_image_bytes,
                         max_pixels=app.settings.max_image_pixels)
    texts = qr.read_qr_codes(image)
    if not texts:
        raise ceremony.CeremonyError("No card QR code in the picture: hold the card flat and closer to the camera.")
    try:
        card_ceremony, student_id = qr.read_card(app.settings, texts[0])
    except qr.QRError as exc:
        raise ceremony.CeremonyError(str(exc)) from None
    if card_ceremony != ceremony_id:
        raise ceremony.CeremonyError("This card is for another ceremony.")
    row = board(app, ceremony_id).set_index("student_id")
    if student_id not in row.index:
        raise ceremony.CeremonyError("This card's graduate is not in this ceremony.")
    face_match, score = "not checked", None
    if require_face:
        matches = app.faces.match_faces(image)
        if not matches:
            face_match = "no face"
        else:
            best = max(matches, key=lambda fm: fm[0].box[2] * fm[0].box[3])[1]  # the holder: the largest face
            score = best.score
            face_match = "matched" if best.student_id == student_id else "mismatch"
    ok = face_match in ("matched", "not checked")
    app.submit(Event.new("ceremony.lineup_checked", {"ceremony_id": ceremony_id, "student_id": student_id,
                                                     "face_match": face_match, "score": score, "ok": ok},
                         actor=actor))
    return LineupResult(student_id, row.loc[student_id, "name"], face_match, score, ok)
