import html

import streamlit as st

from core import ceremonies
from pages._ceremony_ui import LIVE_REFRESH_SECONDS, pick_ceremony, screen_safe
from pages._prompter import prompter
from pages._ui import get_app, guard_fragment, require_view

fixed = require_view("announcer")
app = get_app()
mode = st.query_params.get("mode", "full")  # full | lower-third | prompter (the reader's own screen)
background = {"green": "#00b140", "black": "#000000"}.get(st.query_params.get("bg", "green"), "#00b140")
if fixed is None:
    ceremony_id = pick_ceremony(app, None, key="announcer_ceremony")
    mode = st.radio("Layout", ["full", "lower-third", "prompter"], horizontal=True, key="announcer_mode",
                    help="Lower third: a name band on a chroma background for the video switcher. Prompter: "
                         "the reader's screen, the next names with their pronunciation, Read ✓ to go on.")
else:
    ceremony_id = fixed
if ceremony_id is None:
    st.stop()
if mode == "prompter":
    prompter(app, ceremony_id, signed_in=fixed is None)
    st.stop()

# Big screens: no Streamlit chrome; the lower third keys out a flat colour.
st.html(f"""<style>
header, footer, [data-testid="stToolbar"], [data-testid="stDecoration"] {{display: none !important;}}
{'.stApp, [data-testid="stAppViewContainer"], [data-testid="stMain"] {background: ' + background + ' !important;}'
 if mode == 'lower-third' else ''}
.rc-now {{font-size: clamp(3rem, 9vw, 9rem); font-weight: 800; line-height: 1.1; margin: 0.2em 0;}}
.rc-en {{font-size: clamp(1.5rem, 4vw, 4rem); opacity: 0.8;}}
.rc-say {{font-size: clamp(1.2rem, 2.5vw, 2.5rem); color: #b45309; margin-top: 0.4em;}}
.rc-next {{font-size: clamp(1.2rem, 2.5vw, 2.5rem); margin-top: 1.5em; opacity: 0.7;}}
.rc-band {{position: fixed; left: 4vw; right: 4vw; bottom: 6vh; background: rgba(10,20,40,0.92); color: white;
          padding: 1.2vh 2vw; border-left: 1vw solid #facc15; border-radius: 0.6vw;}}
.rc-band .rc-now {{font-size: clamp(2rem, 5vw, 5rem); margin: 0;}}
.rc-band .rc-en {{font-size: clamp(1rem, 2.5vw, 2.5rem);}}
</style>""")


@st.fragment(run_every=LIVE_REFRESH_SECONDS)
@screen_safe("")  # a chroma-keyed band or a wall screen: nothing rather than an error
def live() -> None:
    if fixed is None:  # signed in, not a link: still allowed?
        guard_fragment("announcer")
    app.fresh()  # fold what devices just sent (bounded: a device backlog never stalls the page)
    state = ceremonies.load(app, ceremony_id)
    board = ceremonies.board(app, ceremony_id).set_index("student_id")
    current = state.current()
    upcoming = state.up_next(2)  # the rest of the line (called and waiting), then the queue

    def names(student_id: str) -> tuple[str, str]:
        row = board.loc[student_id]  # every text is a string (a missing name is the id: core.ceremonies.board)
        return html.escape(row["name"]), html.escape(row["name_en"])

    if current is None:
        now_html = "<div class='rc-now'>&nbsp;</div><div class='rc-en'>Waiting for the first name</div>"
    else:
        th, en = names(current.student_id)
        dept = html.escape(board.loc[current.student_id, "department"])
        say = html.escape(board.loc[current.student_id, "pronunciation"])
        now_html = (f"<div class='rc-now' data-student='{html.escape(current.student_id)}'>{th}</div>"
                    f"<div class='rc-en'>{en}{' · ' + dept if dept else ''}</div>"
                    + (f"<div class='rc-say'>อ่านว่า {say}</div>" if say and mode != "lower-third" else ""))
    if mode == "lower-third":
        st.html(f"<div class='rc-band'>{now_html}</div>")
        return
    nxt = " · ".join(f"{names(e.student_id)[0]}" for e in upcoming)
    st.html(f"<div style='text-align:center;padding-top:8vh'>{now_html}"
            f"<div class='rc-next'>{'Next: ' + nxt if nxt else ''}</div></div>")


live()
