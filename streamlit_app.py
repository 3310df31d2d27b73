"""Rollcall: sign-in, then a menu with only the pages the user's role may open."""

import logging

import streamlit as st

from core.roles import PAGES
from pages._ui import current_user, get_app, public_view, sign_out

st.set_page_config(page_title="Rollcall", page_icon=":material/how_to_reg:", layout="wide")
get_app()  # open the store and start the ingestor once per process

user = current_user()
link = public_view()
if link is not None:
    # A read-only big-screen link: just that view, no menu, no sign-in.
    nav = st.navigation([st.Page(f"pages/{link[0]}.py", title="Rollcall")], position="hidden")
    user = None
elif user is None:
    nav = st.navigation([st.Page("pages/login.py", title="Sign in", icon=":material/login:")])
elif user.must_change:
    nav = st.navigation([st.Page("pages/account.py", title="Choose a new password", icon=":material/key:")])
else:
    sections: dict[str, list] = {}
    for page in PAGES:
        if user.may_open(page.key):
            sections.setdefault(page.section, []).append(st.Page(page.file, title=page.title, icon=page.icon))
    nav = st.navigation(sections, expanded=True)  # staff need every page in view (an admin has 14)
    if st.session_state.pop("go_home", False):
        st.switch_page(next(iter(sections.values()))[0])

if user is not None:
    with st.sidebar:
        st.caption(f"Signed in as **{user.display_name or user.username}** ({user.role.value})")
        if st.button("Sign out", icon=":material/logout:"):
            sign_out("You are signed out.")
            st.rerun()

if flash := st.session_state.pop("flash", None):
    st.toast(flash)
if link is None:
    nav.run()
else:
    try:  # a screen link is shown to a room: a failure is logged, never drawn as a traceback
        nav.run()
    except Exception:
        from pages._ceremony_ui import try_again_soon

        logging.getLogger("rollcall.screens").exception("the %s link failed", link[0])
        st.caption("This screen will be back in a moment.")
        try_again_soon()
