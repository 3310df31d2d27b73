"""Rollcall: sign-in, then a menu with only the pages the user's role may open."""

import logging

import streamlit as st

from core.roles import PAGES, Page, not_for_you
from pages._ui import current_user, get_app, kiosk_session, public_view, session_cookie, sign_in_form, sign_out

PAGE_KEYS = [page.key for page in PAGES if page.key != "home"]  # home is the menu's first page: its address is "/"


def sign_in_page() -> None:
    st.title("Rollcall")
    st.caption("Sign in to open this page.")
    sign_in_form()


def refusal_page(page: Page, home) -> st.Page:
    """At a page's address, for a role that may not open it: why, and the way back (not "Page not found")."""
    def refused() -> None:
        st.title(page.title)
        st.warning(not_for_you(page, user.role), icon=":material/lock:")
        st.page_link(home, label="Back to your first page", icon=":material/arrow_back:")
    refused.__name__ = f"refused_{page.key}"  # Streamlit tells callable pages apart by name
    return st.Page(refused, title=page.title, url_path=page.key, visibility="hidden")


st.set_page_config(page_title="Rollcall", page_icon=":material/how_to_reg:", layout="wide")
get_app()  # open the store and start the ingestor once per process
st.session_state["app_ran"] = True  # (see pages._ui.app_navigation_only)

user = current_user()
link = public_view()
if link is not None:
    # A read-only big-screen link: just that view, no menu, no sign-in.
    nav = st.navigation([st.Page(f"pages/{link[0]}.py", title="Rollcall")], position="hidden")
    user = None
elif user is None:
    # Every page's address answers with the sign-in form (a bookmark, a refresh after the sign-in lapsed): a page's
    # identity is its URL path, so once signed in the same address opens the page that was asked for.
    nav = st.navigation([st.Page("pages/login.py", title="Sign in", icon=":material/login:", default=True)]
                        + [st.Page(sign_in_page, title="Sign in", url_path=key, visibility="hidden")
                           for key in PAGE_KEYS], position="hidden")
elif kiosk_session() is not None:
    # A locked kiosk: its one page, no menu, no sign-out (staff unlock it on the page with their password). A
    # kiosk's cookie never becomes a staff session: an account that may no longer run one is signed out.
    if not user.may_open("kiosk"):
        sign_out("This kiosk was closed: its account changed.")
        st.rerun()
    kiosk = st.Page("pages/kiosk.py", title="Check-in kiosk", url_path="kiosk", default=True)
    nav = st.navigation([kiosk] + [st.Page(lambda: st.switch_page(kiosk), title="Check-in kiosk", url_path=key,
                                           visibility="hidden") for key in PAGE_KEYS if key != "kiosk"],
                        position="hidden")  # any other address typed on the kiosk leads back to it
    user = None  # nothing of the staff session in the sidebar
elif user.must_change:
    nav = st.navigation([st.Page("pages/account.py", title="Choose a new password", icon=":material/key:")])
else:
    sections: dict[str, list] = {}
    for page in PAGES:
        if user.may_open(page.key):
            sections.setdefault(page.section, []).append(st.Page(page.file, title=page.title, icon=page.icon))
    home = next(iter(sections.values()))[0]
    sections[next(iter(sections))] += [refusal_page(page, home) for page in PAGES
                                       if page.key in PAGE_KEYS and not user.may_open(page.key)]
    nav = st.navigation(sections, expanded=True)  # staff need every page in view (an admin has 14)
    if st.session_state.pop("go_home", False):
        st.switch_page(home)

if user is not None:
    with st.sidebar:
        st.caption(f"Signed in as **{user.display_name or user.username}** ({user.role.value})")
        if st.button("Sign out", icon=":material/logout:"):
            sign_out("You are signed out.", by_user=True)
            st.rerun()
        session_cookie()
else:
    session_cookie()

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
