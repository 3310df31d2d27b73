import streamlit as st

from core import ceremonies
from pages._ceremony_ui import LIVE_REFRESH_SECONDS, counts_row, pick_ceremony, screen_safe, tiles
from pages._ui import get_app, guard_fragment, plain, require_view

fixed = require_view("board")
app = get_app()
ceremony_id = pick_ceremony(app, fixed, key="board_ceremony")
if ceremony_id is None:
    st.stop()
info = ceremonies.info(app, ceremony_id)
st.title(plain(info["name"]))
st.caption(f"{info['on_date']:%A %d %B %Y} · {plain(info['venue'] or '')} · live board")


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
    st.html(tiles(ceremonies.board(app, ceremony_id), progress.pace.eta_ms, app.settings.tz))


live()
