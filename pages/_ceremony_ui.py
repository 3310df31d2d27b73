"""Drawing helpers shared by the console, the live board and the announcer view."""

from __future__ import annotations

import html
from datetime import datetime

import pandas as pd
import streamlit as st

from core import ceremonies
from core.ceremony import COLOURS, LABELS

LIVE_REFRESH_SECONDS = 0.5  # with the fold-on-read in each view: a beam shows within about half a second
TEXT_ON = {"waiting": "#1f2937", "pending": "#374151", "skipped": "#111827"}


def pick_ceremony(app, fixed: str | None, key: str) -> str | None:
    """The ceremony from a link, or a choice among all (the running one first)."""
    if fixed:
        return fixed
    listing = ceremonies.listing(app)
    if listing.empty:
        st.info("No ceremony yet. Create one on the Ceremony console.")
        return None
    labels = {r.ceremony_id: f"{r.name} · {r.on_date:%Y-%m-%d} · {r.status}" for r in listing.itertuples()}
    return st.selectbox("Ceremony", list(labels), format_func=labels.get, key=key)


def status_chip(status: str) -> str:
    return (f"<span style='background:{COLOURS[status]};color:{TEXT_ON.get(status, 'white')};padding:2px 10px;"
            f"border-radius:999px;font-weight:600'>{LABELS[status]}</span>")


def counts_row(progress: ceremonies.Progress, tz) -> None:
    cols = st.columns(6)
    for col, status in zip(cols, ("pending", "waiting", "on_stage", "received", "absent"), strict=False):
        col.metric(LABELS[status], progress.counts[status])
    end = progress.pace.expected_end_ms
    cols[5].metric("Expected end", datetime.fromtimestamp(end / 1000, tz).strftime("%H:%M") if end else "–",
                   help="From the live pace: the median time between two graduates received.")
    st.progress(progress.done / progress.total if progress.total else 0.0,
                text=f"{progress.done} of {progress.total} done"
                     + (f" · {progress.pace.seconds_per_graduate:.0f} s per graduate"
                        if progress.pace.seconds_per_graduate else ""))


def tiles(board: pd.DataFrame, eta_ms: dict[str, int], tz) -> str:
    """Every graduate as a coloured tile; names are escaped (a roster is untrusted text)."""
    cells = []
    for r in board.itertuples(index=False):
        colour, ink = COLOURS[r.status], TEXT_ON.get(r.status, "white")
        eta = eta_ms.get(r.student_id)
        eta_text = f"<div style='font-size:0.75rem'>ETA {datetime.fromtimestamp(eta / 1000, tz):%H:%M}</div>" \
            if eta and r.status == "waiting" else ""
        name = html.escape(r.name or r.student_id)
        cells.append(
            f"<div class='rc-tile' data-student='{html.escape(r.student_id)}' data-status='{r.status}' "
            f"style='background:{colour};color:{ink};border-radius:10px;padding:8px 10px;min-height:64px'>"
            f"<div style='font-size:0.75rem;opacity:0.8'>#{r.order_no} · {LABELS[r.status]}</div>"
            f"<div style='font-weight:600;line-height:1.25'>{name}</div>{eta_text}</div>")
    return ("<div style='display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:8px'>"
            + "".join(cells) + "</div>")
