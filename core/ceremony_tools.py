"""Tools around a live ceremony: the reader's prompter, the board of a large ceremony (a window that follows the
ceremony, department breaks), the printable line-up and reader sheets, and rehearsals.

A rehearsal is a ceremony of its own, `rehearsal-<ceremony id>`, cloned from the real one's graduates and order:
every console action, beam and timer works on it unchanged, yet no event names the real ceremony, so nothing a
rehearsal does can reach the real record. It is left out of statistics, and ending it resets it (the clone is made
again, all pending). Stage sensors follow the ceremony started last, so a rehearsal may not start while a real
ceremony runs, and starting a real ceremony ends a rehearsal that is still running.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from core import ceremonies
from core.ceremony import REHEARSAL_PREFIX, CeremonyError
from core.eventlog import Event
from core.services import Rollcall

BOARD_PAGE_SIZE = 120  # tiles on one screen of the board; a wall screen follows the ceremony through them
FOLLOW_BEHIND = 12  # a following board keeps this many graduates before the current one in view


# --- the reader's prompter --------------------------------------------------------------------

@dataclass(frozen=True)
class PromptLine:
    student_id: str
    order_no: int
    name: str
    name_en: str
    pronunciation: str
    department: str
    status: str
    new_department: bool  # the department changes here: the reader announces it before the name


def prompter(app: Rollcall, ceremony_id: str, last_read: str | None, n: int = 5) -> list[PromptLine]:
    """The names to read next, in the order graduates walk, after `last_read` (see Ceremony.to_read)."""
    state = ceremonies.load(app, ceremony_id)
    ahead = state.to_read(last_read, n)
    board = ceremonies.board(app, ceremony_id).set_index("student_id")
    previous = board.loc[last_read, "department"] if last_read in board.index else None
    lines = []
    for e in ahead:
        row = board.loc[e.student_id]
        lines.append(PromptLine(e.student_id, e.order_no, row["name"], row["name_en"], row["pronunciation"],
                                row["department"], e.status, bool(row["department"]) and row["department"] != previous))
        previous = row["department"]
    return lines


def read_back(app: Rollcall, ceremony_id: str, last_read: str | None) -> str | None:
    """Where the reader's place goes on Back (see Ceremony.read_before)."""
    return ceremonies.load(app, ceremony_id).read_before(last_read)


# --- the board of a large ceremony ----------------------------------------------------------------

@dataclass(frozen=True)
class BoardPage:
    rows: pd.DataFrame  # the graduates on screen, in seating order
    page: int  # 0-based; the page the window starts on when following
    pages: int
    following: bool


def graduates(app: Rollcall, ceremony_id: str) -> int:
    return int(app.db.scalar("SELECT count(*) FROM ceremony_entries WHERE ceremony_id = ?", [ceremony_id]) or 0)


def board_page(board: pd.DataFrame, focus: str | None, page: int | None = None,
               size: int = BOARD_PAGE_SIZE) -> BoardPage:
    """One screen of the board. `page` None follows the ceremony: a window of `size` graduates in seating order
    that starts a few before `focus` (the current graduate), so the next ones are always in view and the screen
    scrolls by itself as the ceremony moves. A page number shows that fixed page instead."""
    rows = board.sort_values("order_no", kind="stable").reset_index(drop=True)
    pages = max(1, math.ceil(len(rows) / size))
    if page is not None:
        page = min(max(page, 0), pages - 1)
        return BoardPage(rows.iloc[page * size:(page + 1) * size], page, pages, False)
    hits = rows.index[rows["student_id"] == focus] if focus is not None else []
    at = int(hits[0]) if len(hits) else 0
    start = max(0, min(at - FOLLOW_BEHIND, len(rows) - size))
    return BoardPage(rows.iloc[start:start + size], start // size, pages, True)


def sections(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Consecutive runs of one department (a faculty break between two), in the rows' order."""
    if rows.empty:
        return []
    run = (rows["department"] != rows["department"].shift()).cumsum()
    return [(str(group["department"].iloc[0]), group) for _, group in rows.groupby(run, sort=False)]


def department_totals(board: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Each department's graduates and how many have received (for the headings of a board's screen)."""
    received = board["status"] == "received"
    grouped = received.groupby(board["department"], sort=False)
    return {str(d): (int(n), int(r)) for d, n, r in zip(grouped.size().index, grouped.size(), grouped.sum(),
                                                           strict=True)}


# --- printable sheets ------------------------------------------------------------------------------

def sheet_pdf(app: Rollcall, ceremony_id: str, kind: str) -> bytes:
    """`lineup`: a table to line graduates up in seating order with a box to tick; `reader`: the names in large
    type with their pronunciation notes, for the person reading them. Both break at each department."""
    from core.reports import SheetRow, lineup_sheet_pdf, reader_sheet_pdf

    if kind not in ("lineup", "reader"):
        raise CeremonyError(f"Unknown sheet {kind!r}.")
    info = ceremonies.info(app, ceremony_id)
    rows = [SheetRow(int(r.order_no), r.student_id, r.name, r.name_en, r.department, r.pronunciation)
            for r in ceremonies.board(app, ceremony_id).sort_values("order_no").itertuples(index=False)]
    title = f"{info['name']} · {info['on_date']:%Y-%m-%d}"
    return (lineup_sheet_pdf if kind == "lineup" else reader_sheet_pdf)(title, rows)


# --- rehearsals ----------------------------------------------------------------------------------

def is_rehearsal(ceremony_id: str | None) -> bool:
    return ceremony_id is not None and ceremony_id.startswith(REHEARSAL_PREFIX)


def rehearsal_of(ceremony_id: str) -> str | None:
    """The real ceremony a rehearsal rehearses (None for a real ceremony)."""
    return ceremony_id.removeprefix(REHEARSAL_PREFIX) if is_rehearsal(ceremony_id) else None


def _clone(app: Rollcall, actor: str, ceremony_id: str) -> Event:
    """The rehearsal's `ceremony.created`: the real ceremony's graduates in its order, nobody called. Made again, it
    resets the rehearsal (the fold replaces a ceremony's entries and flags)."""
    info = ceremonies.info(app, ceremony_id)
    entries = ceremonies.board(app, ceremony_id).sort_values("order_no")
    return Event.new("ceremony.created", {
        "ceremony_id": REHEARSAL_PREFIX + ceremony_id, "name": f"Rehearsal · {info['name']}",
        "on_date": pd.Timestamp(info["on_date"]).date().isoformat(), "venue": info["venue"] or "",
        "absent_timeout_min": float(info["absent_timeout_min"]), "rehearsal_of": ceremony_id,
        "entries": [{"student_id": sid, "order_no": int(n)} for sid, n in zip(entries["student_id"],
                                                                               entries["order_no"], strict=True)]},
        actor=actor)


def running_real(app: Rollcall) -> list[str]:
    ids = app.db.query("SELECT ceremony_id FROM ceremonies WHERE status = 'running'")["ceremony_id"]
    return [c for c in ids if not is_rehearsal(c)]


def start_rehearsal(app: Rollcall, actor: str, ceremony_id: str) -> str:
    """A fresh rehearsal of this ceremony, running; returns its id."""
    if is_rehearsal(ceremony_id):
        raise CeremonyError("This is already a rehearsal.")
    if running := running_real(app):
        raise CeremonyError(f"A ceremony is running ({running[0]}): its stage sensors would move the rehearsal. "
                            "Rehearse before or after it.")
    rehearsal = REHEARSAL_PREFIX + ceremony_id
    app.submit(_clone(app, actor, ceremony_id),
               Event.new("ceremony.started", {"ceremony_id": rehearsal}, actor=actor))
    return rehearsal


def end_rehearsal(app: Rollcall, actor: str, rehearsal_id: str) -> str:
    """End a rehearsal and reset it (nothing of it is kept but the audit trail); returns the real ceremony's id."""
    real = rehearsal_of(rehearsal_id)
    if real is None:
        raise CeremonyError("This is a real ceremony, not a rehearsal.")
    app.submit(Event.new("ceremony.ended", {"ceremony_id": rehearsal_id}, actor=actor), _clone(app, actor, real))
    return real


def start(app: Rollcall, actor: str, ceremony_id: str) -> None:
    """Start a ceremony. A real one first ends (and resets) any rehearsal still running, so the stage sensors
    cannot keep moving the rehearsal; a rehearsal starts afresh, and only while no real ceremony runs."""
    if (real := rehearsal_of(ceremony_id)) is not None:
        start_rehearsal(app, actor, real)
        return
    for rehearsal in app.db.query("SELECT ceremony_id FROM ceremonies WHERE status = 'running' AND "
                                  "starts_with(ceremony_id, ?)", [REHEARSAL_PREFIX])["ceremony_id"]:
        end_rehearsal(app, actor, rehearsal)
    ceremonies.act(app, actor, ceremony_id, "ceremony.started")
