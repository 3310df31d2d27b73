import streamlit as st

from core import ceremonies, ceremony_tools
from pages._ceremony_ui import LIVE_REFRESH_SECONDS, counts_row, pick_ceremony, screen_safe, sectioned_tiles
from pages._ui import get_app, guard_fragment, plain, require_view

fixed = require_view("board")
app = get_app()
ceremony_id = pick_ceremony(app, fixed, key="board_ceremony")
if ceremony_id is None:
    st.stop()
info = ceremonies.info(app, ceremony_id)
st.title(plain(info["name"]))
st.caption(f"{info['on_date']:%A %d %B %Y} · {plain(info['venue'] or '')} · live board")
if ceremony_tools.is_rehearsal(ceremony_id):
    st.warning("Rehearsal: nothing on this board counts.", icon="🎭")
# A large ceremony is shown a screen at a time: a wall screen follows the ceremony, staff may pick a page.
size = ceremony_tools.BOARD_PAGE_SIZE
total = ceremony_tools.graduates(app, ceremony_id)
page = None
if fixed is None and total > size:
    pages = {-1: "Follow the ceremony", **{n: f"#{n * size + 1}–{min(total, (n + 1) * size)}"
                                          for n in range(-(-total // size))}}
    chosen = st.selectbox("Show", list(pages), format_func=pages.get, key=f"board_page_{ceremony_id}")
    page = None if chosen == -1 else chosen


@st.fragment(run_every=LIVE_REFRESH_SECONDS)
@screen_safe("The board will be back in a moment.")
def live() -> None:
    if fixed is None:  # signed in, not a link: still allowed?
        guard_fragment("board")
    # Redrawn every second from the read model, which the ingestor keeps current.
    app.fresh()  # fold what devices just sent (bounded: a device backlog never stalls the page)
    state = ceremonies.load(app, ceremony_id)
    progress = ceremonies.progress(state)
    counts_row(progress, app.settings.tz)
    current = state.current()
    board = ceremonies.board(app, ceremony_id)
    shown = ceremony_tools.board_page(board, current.student_id if current else None, page)
    if shown.pages > 1:
        numbers = shown.rows["order_no"]
        st.caption(f"#{numbers.min()}–{numbers.max()} of {len(state.entries)}"
                   + (" · following the ceremony" if shown.following else ""))
    st.html(sectioned_tiles(ceremony_tools.sections(shown.rows), ceremony_tools.department_totals(board),
                            progress.pace.eta_ms, app.settings.tz))


live()
