"""Drawing helpers shared by the console, the live board and the announcer view."""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable

import pandas as pd
import streamlit as st

from core import ceremonies
from core.ceremony import LABELS
from core.timeutil import from_ms

LIVE_REFRESH_SECONDS = 0.5  # with the fold-on-read in each view: a beam shows within about half a second
# The board's colours (the state machine in core/ceremony.py knows statuses, not how they look).
COLOURS = {"pending": "#e5e7eb", "waiting": "#facc15", "on_stage": "#3b82f6", "received": "#22c55e",
           "absent": "#ef4444", "skipped": "#9ca3af"}
TEXT_ON = {"waiting": "#1f2937", "pending": "#374151", "skipped": "#111827"}
log = logging.getLogger("rollcall.screens")
CEREMONY_STATUS = {"planned": "Planned (not started)", "running": "Running", "ended": "Ended"}


def screen_safe(message: str) -> Callable:
    """For what a big screen draws (a read-only link shows it to a room, a hall or a broadcast): a failure is
    logged and the screen shows `message` (or nothing), never a traceback; the next refresh tries again.
    st.stop and st.rerun still pass (they are not Exceptions)."""
    def wrap(draw: Callable) -> Callable:
        @functools.wraps(draw)
        def run(*args, **kwargs):
            try:
                return draw(*args, **kwargs)
            except Exception:
                log.exception("a big-screen view failed; it is drawn again at the next refresh")
                if message:
                    st.caption(message)
        return run
    return wrap


def try_again_soon(seconds: float = 5.0) -> None:
    """After a screen link failed outside its live fragment: run the whole app again in a few seconds (a wall
    screen has nobody to press F5)."""
    @st.fragment(run_every=seconds)
    def again() -> None:
        if st.session_state.pop("screen_retry_armed", False):
            st.rerun(scope="app")
        st.session_state["screen_retry_armed"] = True

    again()


def pick_ceremony(app, fixed: str | None, key: str) -> str | None:
    """The ceremony from a link, or a choice among all (the running one first). Its status is shown beside the
    choice, not in the option's label: a browser keeps showing a label as it was first drawn ("planned" after
    Start)."""
    if fixed:
        return fixed
    listing = ceremonies.listing(app)
    if listing.empty:
        st.info("No ceremony yet. Create one on the Ceremony console.")
        return None
    labels = {r.ceremony_id: f"{r.name} · {r.on_date:%Y-%m-%d}" for r in listing.itertuples()}
    chosen = st.selectbox("Ceremony", list(labels), format_func=labels.get, key=key)
    if chosen is not None:
        status = listing.set_index("ceremony_id").loc[chosen, "status"]
        st.caption(f"Status: {CEREMONY_STATUS.get(status, status)}")
    return chosen


def status_chip(status: str) -> str:
    return (f"<span style='background:{COLOURS[status]};color:{TEXT_ON.get(status, 'white')};padding:2px 10px;"
            f"border-radius:999px;font-weight:600'>{LABELS[status]}</span>")


def counts_row(progress: ceremonies.Progress, tz) -> None:
    # A row that wraps (columns would stack one a line on a phone: Call next was two screens below the counters).
    row = st.container(horizontal=True, horizontal_alignment="distribute", gap="medium")
    for status in ("pending", "waiting", "on_stage", "received", "absent"):
        row.metric(LABELS[status], progress.counts[status], width="content")
    end = progress.pace.expected_end_ms
    row.metric("Expected end", from_ms(end, tz).strftime("%H:%M") if end else "–",
               help="From the live pace: the median time between two graduates received.", width="content")
    st.progress(progress.done / progress.total if progress.total else 0.0,
                text=f"{progress.done} of {progress.total} done"
                     + (f" · {progress.pace.seconds_per_graduate:.0f} s per graduate"
                        if progress.pace.seconds_per_graduate else ""))


def sectioned_tiles(runs: list[tuple[str, pd.DataFrame]], totals: dict[str, tuple[int, int]],
                    eta_ms: dict[str, int], tz) -> str:
    """Tiles under a heading for each department (a faculty break), with how many of it have received."""
    parts = []
    for department, rows in runs:
        count, done = totals.get(department, (len(rows), 0))
        parts.append(f"<div class='rc-section' style='margin:14px 0 6px;font-weight:700;font-size:1.1rem;"
                     f"border-bottom:2px solid #1e3a8a;color:#1e3a8a'>{html.escape(department or '—')}"
                     f"<span style='font-weight:400;font-size:0.85rem;color:#4b5563'> · {done} of {count} "
                     f"received</span></div>" + tiles(rows, eta_ms, tz))
    return "".join(parts)


def tiles(board: pd.DataFrame, eta_ms: dict[str, int], tz) -> str:
    """Every graduate as a coloured tile; names are escaped (a roster is untrusted text)."""
    cells = []
    for r in board.itertuples(index=False):
        colour, ink = COLOURS[r.status], TEXT_ON.get(r.status, "white")
        eta = eta_ms.get(r.student_id)
        eta_text = f"<div style='font-size:0.75rem'>ETA {from_ms(eta, tz):%H:%M}</div>" \
            if eta and r.status == "waiting" else ""
        name = html.escape(r.name)  # a string: a missing name is the id (core.ceremonies.board)
        cells.append(
            f"<div class='rc-tile' data-student='{html.escape(r.student_id)}' data-status='{r.status}' "
            f"style='background:{colour};color:{ink};border-radius:10px;padding:8px 10px;min-height:64px'>"
            f"<div style='font-size:0.75rem;opacity:0.8'>#{r.order_no} · {LABELS[r.status]}</div>"
            f"<div style='font-weight:600;line-height:1.25'>{name}</div>{eta_text}</div>")
    return ("<div style='display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:8px'>"
            + "".join(cells) + "</div>")
