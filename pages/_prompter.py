"""The reader's prompter (the Announcer page's `prompter` layout): the name to read now in large type with its
pronunciation note, the next ones under it, and Read ✓ to go on. The reader's place is the last name they ticked,
kept in the address (`&read=<id>`), so a refresh or a second tablet on the same link keeps it; it moves nothing in
the ceremony (core/ceremony_tools.py: prompter)."""

from __future__ import annotations

import html

import streamlit as st

from core import ceremony_tools
from core.ceremony import LABELS
from pages._ceremony_ui import LIVE_REFRESH_SECONDS, screen_safe
from pages._ui import guard_fragment

SHOWN = 5  # the name to read now and the next four
STYLE = """<style>
header, footer, [data-testid="stToolbar"], [data-testid="stDecoration"] {display: none !important;}
.rp-dept {font-size: clamp(1rem, 2.2vw, 2rem); background: #1e3a8a; color: white; padding: 0.3em 0.7em;
          border-radius: 0.4em; display: inline-block; margin-bottom: 0.3em;}
.rp-now {font-size: clamp(2.5rem, 7vw, 7rem); font-weight: 800; line-height: 1.15;}
.rp-say {font-size: clamp(1.6rem, 4vw, 4rem); color: #b45309; font-weight: 600;}
.rp-en {font-size: clamp(1.1rem, 2.4vw, 2.4rem); opacity: 0.75;}
.rp-meta {font-size: 1rem; opacity: 0.7;}
.rp-next {border-top: 1px solid #d1d5db; padding: 0.45em 0; font-size: clamp(1.1rem, 2.2vw, 2rem);}
.rp-next .rp-say {font-size: clamp(1rem, 1.8vw, 1.6rem);}
.rp-break {font-size: 0.9rem; color: #1e3a8a; font-weight: 700;}
.rp-say-label {font-size: 0.55em; font-weight: 400; opacity: 0.8;}
.st-key-prompter_read button, .st-key-prompter_back button {min-height: 4.5rem;}
.st-key-prompter_read button p, .st-key-prompter_back button p {font-size: 1.6rem;}
/* Redrawn twice a second: no fading while a redraw runs (the reader would see names flicker). */
[data-stale="true"] {opacity: 1 !important; transition: none !important;}
</style>"""


def _read(student_id: str) -> None:
    """Read ✓: the name shown on top has been read (the id the reader saw, not whoever is on top by now)."""
    st.query_params["read"] = student_id


def _back(app, ceremony_id: str) -> None:
    if (previous := ceremony_tools.read_back(app, ceremony_id, st.query_params.get("read"))) is not None:
        st.query_params["read"] = previous
    else:
        st.query_params.pop("read", None)


def _say(text: str) -> str:
    # A word, not an emoji: a lectern laptop may have no emoji font.
    return f"<div class='rp-say'><span class='rp-say-label'>อ่านว่า</span> {html.escape(text)}</div>" if text else ""


def prompter(app, ceremony_id: str, *, signed_in: bool) -> None:
    st.html(STYLE)

    @st.fragment(run_every=LIVE_REFRESH_SECONDS)
    @screen_safe("The prompter will be back in a moment.")
    def live() -> None:
        if signed_in:
            guard_fragment("announcer")
        app.fresh()
        lines = ceremony_tools.prompter(app, ceremony_id, st.query_params.get("read"), SHOWN)
        if not lines:
            st.html("<div class='rp-now'>✓</div><div class='rp-en'>Every name has been read.</div>")
            st.button("◀ Back", key="prompter_back", shortcut="Left", on_click=_back, args=(app, ceremony_id))
            return
        now, rest = lines[0], lines[1:]
        dept = f"<div class='rp-dept'>{html.escape(now.department)}</div>" if now.new_department else ""
        where = LABELS[now.status] if now.status != "pending" else "Not called yet"
        st.html(f"<div class='rp-current' data-student='{html.escape(now.student_id)}'>{dept}"
                f"<div class='rp-meta'>#{now.order_no} · {where}</div>"
                f"<div class='rp-now'>{html.escape(now.name)}</div>{_say(now.pronunciation)}"
                f"<div class='rp-en'>{html.escape(now.name_en)}</div></div>")
        left, right = st.columns([3, 1])
        left.button("Read ✓", type="primary", key="prompter_read", shortcut="Right", width="stretch",
                    on_click=_read, args=(now.student_id,), help="The next name comes up (key →)")
        right.button("◀ Back", key="prompter_back", shortcut="Left", width="stretch", on_click=_back,
                     args=(app, ceremony_id), help="The name before comes back (key ←)")
        st.html("".join(
            f"<div class='rp-next' data-student='{html.escape(x.student_id)}'>"
            + (f"<div class='rp-break'>▸ {html.escape(x.department)}</div>" if x.new_department else "")
            + f"<b>#{x.order_no} {html.escape(x.name)}</b> <span class='rp-meta'>{html.escape(x.name_en)}</span>"
            + _say(x.pronunciation) + "</div>" for x in rest))

    live()
